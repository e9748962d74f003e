"""Google's Gemini API (generativelanguage v1beta): generateContent, SSE streaming, batch embeddings."""

from __future__ import annotations

import re
from dataclasses import replace
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote

import msgspec

from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["GeminiAdapter"]

JSON_HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
_CONTEXT = re.compile(r"input token count.*exceeds|exceeds the maximum number of tokens", re.I | re.S)


class GeminiAdapter:
    """`x-goog-api-key` auth; `{base_url}/models/{model}:<method>`; the base URL includes `/v1beta`."""

    kind: ClassVar[str] = "gemini"
    dialect: ClassVar[Dialect] = "gemini"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=False, embeddings=True, json_schema=True)

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"x-goog-api-key": provider.api_key} if provider.api_key else {}

    def url(self, provider: ProviderEntry, model: str, method: str) -> str:
        """`models/<id>` for a bare id; a resource name with a slash (`tunedModels/x`) is used as given."""
        name = model if "/" in model else f"models/{model}"
        return f"{provider.base_url.rstrip('/')}/{quote(name, safe='/')}:{method}"

    def _headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {**JSON_HEADERS, **provider.headers, **self.auth_headers(provider)}

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        # Without alt=sse the streaming method answers one JSON array, which cannot be relayed incrementally.
        method = "streamGenerateContent?alt=sse" if stream else "generateContent"
        return UpstreamRequest("POST", self.url(provider, model, method), self._headers(provider), body)

    def embed(self, provider: ProviderEntry, model: str, body: bytes) -> UpstreamRequest:
        """A batchEmbedContents request (body from `chat_embeddings_to_gemini`)."""
        return UpstreamRequest("POST", self.url(provider, model, "batchEmbedContents"), self._headers(provider), body)

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        headers = {**provider.headers, **self.auth_headers(provider)}
        return UpstreamRequest("GET", provider.base_url.rstrip("/") + "/models", headers)

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        """`{"error": {"code", "message", "status"}}`; RESOURCE_EXHAUSTED is named a rate limit."""
        parsed = parse_error_body(status, body)
        if parsed.type == "RESOURCE_EXHAUSTED" or status == 429:
            message = parsed.message
            if "rate limit" not in message.lower():
                message = f"rate limited (RESOURCE_EXHAUSTED): {message}"
            parsed = replace(parsed, message=message)
        if _CONTEXT.search(parsed.message):
            parsed = replace(parsed, code="context_length_exceeded", context_length=True)
        elif _reason(body) == "API_KEY_INVALID":
            # Gemini answers a bad key with 400 INVALID_ARGUMENT; the reason tells it from a caller's mistake.
            parsed = replace(parsed, code="API_KEY_INVALID")
        return parsed


def _reason(body: bytes) -> str | None:
    """The `reason` of a google.rpc.ErrorInfo detail, if the body has one."""
    try:
        doc: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return None
    error = doc.get("error") if isinstance(doc, dict) else None
    details = error.get("details") if isinstance(error, dict) else None
    for detail in details if isinstance(details, list) else []:
        if isinstance(detail, dict) and detail.get("reason"):
            return str(detail["reason"])
    return None
