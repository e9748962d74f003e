"""Where each kind serves the Realtime API: ws(s) URLs, the model in the query, the kind's credentials."""

from __future__ import annotations

import pytest

from app.providers.realtime import realtime_headers, realtime_url
from tests.entries import provider_entry


@pytest.mark.parametrize(
    ("kind", "base", "version", "url"),
    [
        ("openai", "https://api.openai.com/v1", None, "wss://api.openai.com/v1/realtime?model=gpt+rt&intent=x"),
        ("openai-compatible", "http://127.0.0.1:9/v1/", None, "ws://127.0.0.1:9/v1/realtime?model=gpt+rt&intent=x"),
        (
            "azure",
            "https://r.openai.azure.com/openai/v1",
            None,
            "wss://r.openai.azure.com/openai/v1/realtime?model=gpt+rt&intent=x",
        ),
        (
            "azure",
            "https://r.openai.azure.com",
            "2025-04-01-preview",
            "wss://r.openai.azure.com/openai/realtime?api-version=2025-04-01-preview&deployment=gpt+rt&intent=x",
        ),
    ],
)
def test_urls_by_kind(kind: str, base: str, version: str | None, url: str) -> None:
    provider = provider_entry(kind=kind, base_url=base, api_version=version)
    assert realtime_url(provider, "gpt rt", [("intent", "x")]) == url


def test_credentials_in_each_kinds_own_header_after_the_providers_extra_headers() -> None:
    openai = provider_entry(kind="openai", api_key="sk-up", headers={"authorization": "stale", "x-org": "o"})
    assert realtime_headers(openai) == {"authorization": "Bearer sk-up", "x-org": "o"}
    azure = provider_entry(kind="azure", base_url="https://r.openai.azure.com", api_key="az-key")
    assert realtime_headers(azure)["api-key"] == "az-key"
