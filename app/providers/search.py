"""Search providers for the gateway-run `web_search` tool: the Tavily-compatible search API."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import msgspec

from app.errors import UnsupportedFeatureError
from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["TavilyAdapter", "parse_results"]


def parse_results(body: bytes, limit: int = 5) -> list[dict[str, str]]:
    """`{"results": [{"title", "url", "content"}]}` -> the fields the model and citations need."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return []
    results: Any = doc.get("results") if isinstance(doc, dict) else None
    out = []
    for item in results if isinstance(results, list) else []:
        if isinstance(item, dict) and isinstance(item.get("url"), str):
            out.append(
                {
                    "title": str(item.get("title") or item["url"]),
                    "url": item["url"],
                    "content": str(item.get("content") or "")[:2000],
                }
            )
    return out[:limit]


class TavilyAdapter:
    """POST {base_url}/search with a Bearer key; it has no free endpoint, so it is never probed."""

    kind: ClassVar[str] = "tavily"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        stream=False, tools=False, vision=False, json_schema=False, models_endpoint=False
    )

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}

    def search(self, provider: ProviderEntry, query: str, max_results: int = 5) -> UpstreamRequest:
        body = msgspec.json.encode({"query": query, "max_results": max_results, "search_depth": "basic"})
        headers = {"content-type": "application/json", **provider.headers, **self.auth_headers(provider)}
        return UpstreamRequest("POST", provider.base_url.rstrip("/") + "/search", headers, body)

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        raise UnsupportedFeatureError(f"'{provider.name}' is a search provider; it does not generate text")

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        return UpstreamRequest("GET", provider.base_url.rstrip("/") + "/", self.auth_headers(provider))

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error_body(status, body)
