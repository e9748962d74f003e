"""OpenAI's own API: Chat Completions, Responses (native), embeddings, images."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["OpenAIAdapter"]

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


class OpenAIAdapter:
    """Bearer auth; `{base_url}/chat/completions`; the base URL includes `/v1`."""

    kind: ClassVar[str] = "openai"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        responses_native=True, embeddings=True, images=True, moderations=True
    )

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}

    def url(self, provider: ProviderEntry, path: str, model: str | None = None) -> str:
        """`model` matters only where the deployment is part of the path (Azure's subclass)."""
        return provider.base_url.rstrip("/") + path

    def _headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {**JSON_HEADERS, **provider.headers, **self.auth_headers(provider)}

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        return UpstreamRequest("POST", self.url(provider, "/chat/completions"), self._headers(provider), body)

    def endpoint(self, provider: ProviderEntry, path: str, body: bytes, model: str | None = None) -> UpstreamRequest:
        """Any other OpenAI-shaped endpoint (`/embeddings`, `/responses`, ...) for `model`."""
        return UpstreamRequest("POST", self.url(provider, path, model), self._headers(provider), body)

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        headers = {**provider.headers, **self.auth_headers(provider)}
        return UpstreamRequest("GET", self.url(provider, "/models"), headers)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error_body(status, body)
