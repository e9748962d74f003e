"""Google Vertex AI: Gemini models (kind `vertex`) and Claude models (kind `vertex-anthropic`).

The base URL is the project and location prefix, as Vertex's REST reference writes it:
`https://us-east5-aiplatform.googleapis.com/v1/projects/my-project/locations/us-east5` (or
`https://aiplatform.googleapis.com/v1/projects/my-project/locations/global`). Calls go to
`{base}/publishers/google/models/{model}:generateContent` (Gemini's body, unchanged) and
`{base}/publishers/anthropic/models/{model}:rawPredict` / `:streamRawPredict` (Anthropic's body without
`model`, with `anthropic_version: vertex-2023-10-16`). A model id with a slash (`endpoints/123`, a tuned
model) is a resource under the base, used as given.

Credentials (the provider's `api_key`): a service account's JSON key file (each request carries an access
token of that account, got and kept by `UpstreamPool`), an access token (`ya29.`, sent as it is: it
expires within the hour), or an API key (Vertex's express mode, sent as `x-goog-api-key`).
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import msgspec

from app.providers.anthropic import AnthropicAdapter
from app.providers.base import Capabilities, Dialect, UpstreamRequest
from app.providers.gemini import GeminiAdapter
from app.providers.google_auth import ServiceAccount, parse_service_account

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["VERTEX_ANTHROPIC_VERSION", "VertexAnthropicAdapter", "VertexGeminiAdapter", "vertex_anthropic_body"]

VERTEX_ANTHROPIC_VERSION = "vertex-2023-10-16"
_decode = msgspec.json.Decoder(dict[str, Any])


@lru_cache(maxsize=64)
def _account(key: str) -> ServiceAccount | None:
    """The service account a key file names (parsed once per key, not per request)."""
    try:
        return parse_service_account(key)
    except ValueError:  # refused when saved; should one be stored anyway, it is sent as nothing, not as a key
        return None


def _credentials(provider: ProviderEntry) -> dict[str, str]:
    """Headers for an access token or an API key; a service account's token is added by the pool."""
    key = (provider.api_key or "").strip()
    if not key or key.startswith("{"):
        return {}
    if key.startswith("ya29."):
        return {"authorization": f"Bearer {key}"}
    return {"x-goog-api-key": key}


def _authorized(provider: ProviderEntry, req: UpstreamRequest) -> UpstreamRequest:
    account = _account(provider.api_key.strip()) if provider.api_key else None
    if account is not None:
        return replace(req, google_account=account)
    return replace(req, headers={**req.headers, **_credentials(provider)})


def _resource(provider: ProviderEntry, publisher: str, model: str, method: str) -> str:
    name = model if "/" in model else f"publishers/{publisher}/models/{model}"
    return f"{provider.base_url.rstrip('/')}/{quote(name, safe='/@')}:{method}"


def vertex_anthropic_body(body: bytes) -> bytes:
    """Anthropic's Messages body as Vertex takes it: the model is in the URL, the version in the body."""
    doc = _decode.decode(body)
    doc.pop("model", None)
    doc.setdefault("anthropic_version", VERTEX_ANTHROPIC_VERSION)
    return msgspec.json.encode(doc)


class _GoogleCloud:
    """What both Vertex kinds share: Google Cloud credentials and the project's model list as the probe."""

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return _credentials(provider)

    def authorized(self, provider: ProviderEntry, req: UpstreamRequest) -> UpstreamRequest:
        return _authorized(provider, req)

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        """The project's own model list in that location: free, and proves the credentials and the project."""
        req = UpstreamRequest("GET", f"{provider.base_url.rstrip('/')}/models?pageSize=1", {**provider.headers})
        return _authorized(provider, req)


class VertexGeminiAdapter(_GoogleCloud, GeminiAdapter):
    """Gemini on Vertex: the Gemini API's bodies and answers at Vertex's URLs, with Google Cloud credentials."""

    kind: ClassVar[str] = "vertex"
    dialect: ClassVar[Dialect] = "gemini"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=False, json_schema=True, embeddings=True)

    def url(self, provider: ProviderEntry, model: str, method: str) -> str:
        return _resource(provider, "google", model, method)

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        return _authorized(provider, super().generate(provider, model, body, stream))

    def embed(self, provider: ProviderEntry, model: str, body: bytes) -> UpstreamRequest:
        """A `:predict` request (body from `chat_embeddings_to_vertex`): Vertex's way to embed."""
        return _authorized(
            provider, UpstreamRequest("POST", self.url(provider, model, "predict"), self._headers(provider), body)
        )


class VertexAnthropicAdapter(_GoogleCloud, AnthropicAdapter):
    """Claude on Vertex: Anthropic's Messages at `:rawPredict` / `:streamRawPredict`, SSE as Anthropic sends it."""

    kind: ClassVar[str] = "vertex-anthropic"
    dialect: ClassVar[Dialect] = "anthropic"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=True, json_schema=True)

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        url = _resource(provider, "anthropic", model, "streamRawPredict" if stream else "rawPredict")
        headers = {
            "content-type": "application/json",
            "accept": "text/event-stream" if stream else "application/json",
            **{k.lower(): v for k, v in provider.headers.items()},
        }
        return _authorized(provider, UpstreamRequest("POST", url, headers, vertex_anthropic_body(body)))

    def count_request(self, provider: ProviderEntry, model: str, body: bytes, betas: str | None) -> UpstreamRequest:
        """Vertex's count of Claude tokens: one endpoint for every model, named in the body."""
        url = f"{provider.base_url.rstrip('/')}/publishers/anthropic/models/count-tokens:rawPredict"
        headers = {"content-type": "application/json", "accept": "application/json", **provider.headers}
        if betas:
            headers["anthropic-beta"] = betas
        return _authorized(provider, UpstreamRequest("POST", url, headers, body))
