"""MCP servers as providers (kind `mcp`): the gateway fronts them at `/mcp/{name}` (app.gateway.mcp).

`base_url` is the server's Streamable HTTP endpoint; `api_key` goes as a Bearer token, `headers` as
they are. They have no model list to probe and never generate text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from app.errors import UnsupportedFeatureError
from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["McpAdapter"]


class McpAdapter:
    kind: ClassVar[str] = "mcp"
    dialect: ClassVar[Dialect] = "chat"
    capabilities: ClassVar[Capabilities] = Capabilities(
        stream=False, tools=False, vision=False, json_schema=False, models_endpoint=False
    )

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        return {"authorization": f"Bearer {provider.api_key}"} if provider.api_key else {}

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        raise UnsupportedFeatureError(f"'{provider.name}' is an MCP server; call its tools at /mcp/{provider.name}")

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        return UpstreamRequest("GET", provider.base_url, self.auth_headers(provider))

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error_body(status, body)
