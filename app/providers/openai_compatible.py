"""OpenAI-compatible vendors: OpenAI's dialect plus a table of each vendor's quirks."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from app.providers.base import Capabilities, Dialect, UpstreamRequest
from app.providers.openai import OpenAIAdapter

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["QUIRKS", "OpenAICompatibleAdapter", "Quirks"]


@dataclass(frozen=True, slots=True)
class Quirks:
    """How one vendor departs from OpenAI's API."""

    stream_usage: bool = True
    """Honours `stream_options.include_usage`."""
    prefill: bool = False
    """Continues a trailing assistant message."""
    models_path: str | None = "/models"
    """A free endpoint for probes; None when the vendor has none."""
    completions: bool = True
    """Serves the legacy `/completions` (a raw prompt, no chat template); else it goes through chat."""


QUIRKS: dict[str, Quirks] = {
    "default": Quirks(),
    "groq": Quirks(completions=False),
    "deepseek": Quirks(prefill=True, completions=False),
    "together": Quirks(),
    "fireworks": Quirks(),
    "mistral": Quirks(prefill=True, completions=False),
    "openrouter": Quirks(prefill=True),
    "vllm": Quirks(prefill=True),
    "llama.cpp": Quirks(prefill=True),
    "ollama": Quirks(prefill=True),
    "chat-only": Quirks(completions=False),
}
"""Vendor rows by name (a provider's `quirks`); `chat-only` is any server without `/completions`."""

_AZURE_BEFORE_USAGE = Quirks(stream_usage=False)
"""An Azure deployment API older than stream usage: its streams are counted by estimate."""

_HOST_HINTS = {
    "groq.com": "groq",
    "deepseek.com": "deepseek",
    "together.xyz": "together",
    "fireworks.ai": "fireworks",
    "mistral.ai": "mistral",
    "openrouter.ai": "openrouter",
}


_AZURE_STREAM_USAGE_SINCE = "2024-09-01"
"""The first GA `api-version` of Azure OpenAI that takes `stream_options` (older ones refuse the field)."""


def quirks_for(provider: ProviderEntry) -> Quirks:
    if provider.kind == "azure":
        version = provider.api_version
        return QUIRKS["default"] if version is None or version >= _AZURE_STREAM_USAGE_SINCE else _AZURE_BEFORE_USAGE
    if provider.quirks and provider.quirks in QUIRKS:
        return QUIRKS[provider.quirks]
    for hint, name in _HOST_HINTS.items():
        if hint in provider.base_url:
            return QUIRKS[name]
    return QUIRKS["default"]


class OpenAICompatibleAdapter(OpenAIAdapter):
    """Chat Completions only (no native Responses); vendor differences come from `QUIRKS`."""

    kind: ClassVar[str] = "openai-compatible"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        responses_native=False, embeddings=True, prefill=True, rerank=True
    )

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        path = quirks_for(provider).models_path or "/models"
        return UpstreamRequest("GET", self.url(provider, path), {**provider.headers, **self.auth_headers(provider)})
