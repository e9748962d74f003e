"""Azure OpenAI (and Azure AI Foundry's OpenAI endpoint): OpenAI's dialect behind Azure's URLs and `api-key`.

Two URL schemes, chosen by the provider's `api_version`:

- unset: the v1 API, `{resource}/openai/v1/chat/completions`, the deployment named by `model` in the
  body, like OpenAI's own API;
- set (`2024-10-21`, `2025-04-01-preview`): the deployment API, where the deployment is part of the path
  (`{resource}/openai/deployments/{deployment}/chat/completions?api-version=...`); Responses, models,
  files and batches are not per deployment (`{resource}/openai/responses?api-version=...`).

The model id of a target is the deployment name in both. The base URL is the resource endpoint
(`https://my-resource.openai.azure.com`); one that already ends in `/openai` or `/openai/v1` is tolerated.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar
from urllib.parse import quote

from app.providers.base import Capabilities, Dialect, UpstreamRequest
from app.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["AzureOpenAIAdapter"]

_NOT_PER_DEPLOYMENT = ("/responses", "/models", "/files", "/batches")
"""Paths of the deployment API that sit under `/openai/`, not under a deployment."""


def resource_root(base_url: str) -> str:
    """The resource endpoint, whatever API suffix the operator gave with it."""
    root = base_url.rstrip("/")
    for suffix in ("/openai/v1", "/openai"):
        if root.endswith(suffix):
            return root[: -len(suffix)]
    return root


class AzureOpenAIAdapter(OpenAIAdapter):
    """`api-key` auth; every OpenAI-shaped endpoint Azure serves, at Azure's paths (see the module doc)."""

    kind: ClassVar[str] = "azure"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(responses_native=True, embeddings=True, images=True)

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"api-key": provider.api_key} if provider.api_key else {}

    def url(self, provider: ProviderEntry, path: str, model: str | None = None) -> str:
        root = resource_root(provider.base_url)
        version = provider.api_version
        if version is None:
            return f"{root}/openai/v1{path}"
        separator = "&" if "?" in path else "?"
        if model is None or path.startswith(_NOT_PER_DEPLOYMENT):
            return f"{root}/openai{path}{separator}api-version={version}"
        return f"{root}/openai/deployments/{quote(model, safe='')}{path}{separator}api-version={version}"

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        return UpstreamRequest("POST", self.url(provider, "/chat/completions", model), self._headers(provider), body)

    def endpoint(self, provider: ProviderEntry, path: str, body: bytes, model: str | None = None) -> UpstreamRequest:
        return UpstreamRequest("POST", self.url(provider, path, model), self._headers(provider), body)
