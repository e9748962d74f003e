"""The provider adapter contract and the request it builds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar, Literal, Protocol, runtime_checkable

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry
    from app.providers.google_auth import ServiceAccount

__all__ = ["Capabilities", "Dialect", "ProviderAdapter", "RequestAuthorizer", "UpstreamError", "UpstreamRequest"]

Dialect = Literal["chat", "anthropic", "gemini", "converse"]
"""The wire dialect an upstream speaks for generation."""


@dataclass(frozen=True, slots=True)
class Capabilities:
    stream: bool = True
    tools: bool = True
    vision: bool = True
    json_schema: bool = True
    responses_native: bool = False
    prefill: bool = False
    """Continues a trailing assistant message (needed for mid-stream recovery)."""
    embeddings: bool = False
    images: bool = False
    rerank: bool = False
    """Serves `POST {base_url}/rerank` (Cohere's shape)."""
    moderations: bool = False
    """Serves `POST {base_url}/moderations` (OpenAI's)."""
    models_endpoint: bool = True
    """Has a free GET endpoint a probe can call."""


@dataclass(frozen=True, slots=True)
class UpstreamRequest:
    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None
    google_account: ServiceAccount | None = None
    """Sent with a Bearer access token of this Google service account, which `UpstreamPool` gets and keeps."""


@dataclass(frozen=True, slots=True)
class UpstreamError:
    """An upstream error body, parsed: message, code, and whether it is a content-policy refusal."""

    message: str
    code: str | None = None
    type: str | None = None
    content_policy: bool = False
    context_length: bool = False


class ProviderAdapter(Protocol):
    """Pure functions of a provider config and a body already in the adapter's dialect."""

    kind: ClassVar[str]
    dialect: ClassVar[Dialect]
    capabilities: ClassVar[Capabilities]

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        """The request that runs one generation."""
        ...

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        """A free request that proves the provider answers (never one that costs tokens)."""
        ...

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        """The provider's credentials in its own auth style."""
        ...

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        """The message and code of an upstream error body, whatever shape it has."""
        ...


@runtime_checkable
class RequestAuthorizer(Protocol):
    """An adapter whose credentials are more than a header (a signature over the request, an OAuth token):
    `authorized` puts them on a request built elsewhere (the vendor passthrough)."""

    def authorized(self, provider: ProviderEntry, req: UpstreamRequest) -> UpstreamRequest: ...
