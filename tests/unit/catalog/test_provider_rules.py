"""Provider rules beyond the struct: URLs, the SSRF allow-list, duplicate models, header hygiene."""

from __future__ import annotations

import pytest

from app.catalog.services.providers import check_provider, host_allowed
from app.catalog.specs import ModelSpec, ProviderSpec
from app.errors import ValidationFailedError


@pytest.mark.parametrize(
    ("host", "allowed", "expected"),
    [
        ("api.openai.com", ["api.openai.com"], True),
        ("API.OpenAI.com.", ["api.openai.com"], True),
        ("eu.api.example.com", ["*.example.com"], True),
        ("example.com", ["*.example.com"], False),
        ("evilexample.com", ["*.example.com"], False),
        ("example.com.evil.net", ["example.com"], False),
        ("169.254.169.254", ["127.0.0.1"], False),
    ],
)
def test_host_allowed(host: str, allowed: list[str], expected: bool) -> None:
    assert host_allowed(host, allowed) is expected


def fields_of(spec: ProviderSpec, allowed: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(ValidationFailedError) as caught:
        check_provider(spec, allowed)
    return [e["field"] for e in caught.value.extra["errors"]]


def test_good_providers_pass() -> None:
    check_provider(ProviderSpec(name="d", kind="demo"), ("api.example.com",))
    check_provider(ProviderSpec(name="o", kind="openai", base_url="https://api.example.com/v1"), ("api.example.com",))


def test_url_problems() -> None:
    assert fields_of(ProviderSpec(name="o", kind="openai")) == ["base_url"]
    assert fields_of(ProviderSpec(name="o", kind="openai", base_url="https://h:70000/v1")) == ["base_url"]
    assert fields_of(ProviderSpec(name="o", kind="openai", base_url="https://u:p@h/v1")) == ["base_url"]
    assert fields_of(ProviderSpec(name="o", kind="openai", base_url="inproc://x")) == ["base_url"]
    assert fields_of(ProviderSpec(name="o", kind="openai", base_url="http://10.0.0.1/"), ("api.x.com",)) == ["base_url"]


def test_models_and_headers_are_checked_together() -> None:
    spec = ProviderSpec(
        name="o",
        kind="openai",
        base_url="https://api.example.com",
        models=[ModelSpec(id="a"), ModelSpec(id="b"), ModelSpec(id="a")],
        headers={"ok": "v", "bad name": "v", "x-inject": "a\r\nHost: evil"},
    )
    assert fields_of(spec) == ["models[2].id", "headers.bad name", "headers.x-inject"]
