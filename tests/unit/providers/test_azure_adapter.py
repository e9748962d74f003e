"""Azure OpenAI's URLs: the v1 API and the deployment API, whatever suffix the base URL was given with."""

from __future__ import annotations

import pytest

from app.gateway.snapshot import ProviderEntry
from app.providers.azure import AzureOpenAIAdapter
from tests.entries import provider_entry

AZURE = AzureOpenAIAdapter()


def _provider(base_url: str, api_version: str | None = None, api_key: str | None = "k") -> ProviderEntry:
    return provider_entry(
        kind="azure", base_url=base_url, api_key=api_key, headers={"x-ms-useragent": "t"}, api_version=api_version
    )


@pytest.mark.parametrize(
    "base",
    [
        "https://r.openai.azure.com",
        "https://r.openai.azure.com/",
        "https://r.openai.azure.com/openai",
        "https://r.openai.azure.com/openai/v1/",
    ],
)
def test_v1_api_whatever_the_suffix(base: str) -> None:
    req = AZURE.generate(_provider(base), "my-gpt", b"{}", stream=False)
    assert req.url == "https://r.openai.azure.com/openai/v1/chat/completions"
    assert req.headers["api-key"] == "k" and "authorization" not in req.headers
    assert req.headers["x-ms-useragent"] == "t"


def test_deployment_api_per_deployment_and_not() -> None:
    provider = _provider("https://r.openai.azure.com", "2024-10-21")
    root = "https://r.openai.azure.com/openai"
    assert AZURE.generate(provider, "my gpt/4o", b"{}", stream=True).url == (
        f"{root}/deployments/my%20gpt%2F4o/chat/completions?api-version=2024-10-21"
    )
    assert AZURE.endpoint(provider, "/embeddings", b"{}", "emb").url == (
        f"{root}/deployments/emb/embeddings?api-version=2024-10-21"
    )
    assert AZURE.endpoint(provider, "/responses", b"{}", "gpt").url == f"{root}/responses?api-version=2024-10-21"
    assert AZURE.probe(provider).url == f"{root}/models?api-version=2024-10-21"
    assert AZURE.probe(_provider("https://r.openai.azure.com")).url == f"{root}/v1/models"


def test_no_key_sends_no_auth_header() -> None:
    assert AZURE.auth_headers(_provider("https://r.openai.azure.com", api_key=None)) == {}


def test_stream_usage_is_asked_only_of_api_versions_that_take_it() -> None:
    from app.providers.openai_compatible import quirks_for

    assert quirks_for(_provider("https://r.openai.azure.com")).stream_usage  # v1
    assert quirks_for(_provider("https://r.openai.azure.com", "2024-10-21")).stream_usage
    assert quirks_for(_provider("https://r.openai.azure.com", "2025-04-01-preview")).stream_usage
    assert not quirks_for(_provider("https://r.openai.azure.com", "2024-02-01")).stream_usage
    assert not quirks_for(_provider("https://r.openai.azure.com", "2024-08-01-preview")).stream_usage
