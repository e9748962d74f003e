"""Provider kind -> adapter instance."""

from __future__ import annotations

from app.providers.anthropic import AnthropicAdapter
from app.providers.azure import AzureOpenAIAdapter
from app.providers.base import ProviderAdapter
from app.providers.bedrock import BedrockAdapter, BedrockConverseAdapter
from app.providers.demo import DemoAdapter
from app.providers.gemini import GeminiAdapter
from app.providers.mcp import McpAdapter
from app.providers.openai import OpenAIAdapter
from app.providers.openai_compatible import OpenAICompatibleAdapter
from app.providers.search import TavilyAdapter
from app.providers.vertex import VertexAnthropicAdapter, VertexGeminiAdapter

__all__ = ["ADAPTERS", "adapter_for"]

ADAPTERS: dict[str, ProviderAdapter] = {
    a.kind: a
    for a in (
        OpenAIAdapter(),
        OpenAICompatibleAdapter(),
        AzureOpenAIAdapter(),
        DemoAdapter(),
        AnthropicAdapter(),
        BedrockAdapter(),
        BedrockConverseAdapter(),
        GeminiAdapter(),
        VertexGeminiAdapter(),
        VertexAnthropicAdapter(),
        TavilyAdapter(),
        McpAdapter(),
    )
}


def adapter_for(kind: str) -> ProviderAdapter:
    return ADAPTERS[kind]
