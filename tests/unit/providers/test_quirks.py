"""Vendor rows of OpenAI-compatible providers: picked by name or URL, and a misspelt name refused."""

from __future__ import annotations

import msgspec
import pytest

from app.catalog.specs import ProviderSpec
from app.gateway.completions import has_native_completions
from app.providers.openai_compatible import OpenAICompatibleAdapter
from tests.entries import provider_entry


@pytest.mark.parametrize(
    ("quirks", "base_url", "native"),
    [
        (None, "http://127.0.0.1:8000/v1", True),  # a server of unknown make: it has /completions
        ("chat-only", "http://127.0.0.1:8000/v1", False),  # one that has not: through chat
        (None, "https://api.groq.com/openai/v1", False),
        ("vllm", "https://api.groq.com/openai/v1", True),  # the name wins over the URL
    ],
)
def test_which_servers_get_completions_as_sent(quirks: str | None, base_url: str, native: bool) -> None:
    extra = {"quirks": quirks} if quirks else {}
    provider = provider_entry(name="p", kind="openai-compatible", base_url=base_url, **extra)
    assert has_native_completions(OpenAICompatibleAdapter(), provider, "m") is native


def test_a_misspelt_row_is_refused_naming_the_rows() -> None:
    with pytest.raises(msgspec.ValidationError, match="unknown vendor row 'grok'; one of default, groq"):
        msgspec.convert({"name": "p", "kind": "openai-compatible", "quirks": "grok"}, ProviderSpec)
