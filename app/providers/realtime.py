"""Where a provider serves OpenAI's Realtime API (a WebSocket), and with which credentials.

OpenAI and any OpenAI-compatible server take `ws(s)://{base_url}/realtime?model=...`. Azure takes
`{resource}/openai/v1/realtime?model={deployment}` on its v1 API, and
`{resource}/openai/realtime?api-version=...&deployment=...` on the deployment API.
"""

from __future__ import annotations

from collections.abc import Sequence
from urllib.parse import urlencode

from app.gateway.snapshot import ProviderEntry
from app.providers.azure import resource_root
from app.providers.registry import ADAPTERS

__all__ = ["REALTIME_KINDS", "realtime_headers", "realtime_url"]

REALTIME_KINDS = frozenset({"openai", "openai-compatible", "azure", "demo"})
"""`demo` is served in process (`app.providers.demo_realtime`), the others at `realtime_url`."""


def _ws(url: str) -> str:
    if url.startswith("https://"):
        return "wss://" + url.removeprefix("https://")
    if url.startswith("http://"):
        return "ws://" + url.removeprefix("http://")
    return url


def realtime_url(provider: ProviderEntry, model: str, extra: Sequence[tuple[str, str]] = ()) -> str:
    """The upstream's Realtime WebSocket URL for `model` (a kind in REALTIME_KINDS), with the caller's
    other query parameters (`intent=transcription`...) after ours."""
    if provider.kind == "azure":
        root = resource_root(provider.base_url)
        if provider.api_version is None:
            return _ws(f"{root}/openai/v1/realtime?" + urlencode([("model", model), *extra]))
        query = urlencode([("api-version", provider.api_version), ("deployment", model), *extra])
        return _ws(f"{root}/openai/realtime?{query}")
    return _ws(provider.base_url.rstrip("/") + "/realtime?" + urlencode([("model", model), *extra]))


def realtime_headers(provider: ProviderEntry) -> dict[str, str]:
    """The provider's extra headers and credentials, as its HTTP calls send them."""
    return {**provider.headers, **ADAPTERS[provider.kind].auth_headers(provider)}
