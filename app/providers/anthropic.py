"""Anthropic's Messages API: `x-api-key` auth, `/v1/messages`, and the free `/v1/models` probe."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = ["ANTHROPIC_VERSION", "DEFAULT_BASE_URL", "AnthropicAdapter", "merged_betas"]

ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_BASE_URL = "https://api.anthropic.com"


def merged_betas(*values: str | None) -> str:
    """`anthropic-beta` values (comma-separated flags) as one, each flag once, in first-seen order."""
    flags = (flag.strip() for value in values if value for flag in value.split(","))
    return ",".join(dict.fromkeys(flag for flag in flags if flag))


class AnthropicAdapter:
    """The base URL is the host (`https://api.anthropic.com`); a trailing `/v1` is tolerated, not doubled.

    `provider.headers` may add `anthropic-beta` or override `anthropic-version`; they never replace the key.
    """

    kind: ClassVar[str] = "anthropic"
    dialect: ClassVar[Dialect] = "anthropic"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=True, json_schema=True, responses_native=False)

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        if provider.api_key:
            headers["x-api-key"] = provider.api_key
        return headers

    def url(self, provider: ProviderEntry, path: str) -> str:
        base = (provider.base_url or DEFAULT_BASE_URL).rstrip("/")
        base = base.removesuffix("/v1")
        return f"{base}/v1{path}"

    def _headers(self, provider: ProviderEntry, accept: str) -> dict[str, str]:
        auth = self.auth_headers(provider)
        headers = {"accept": accept, **auth, **{k.lower(): v for k, v in provider.headers.items()}}
        if "x-api-key" in auth:
            headers["x-api-key"] = auth["x-api-key"]
        return headers

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        headers = self._headers(provider, "text/event-stream" if stream else "application/json")
        headers["content-type"] = "application/json"
        return UpstreamRequest("POST", self.url(provider, "/messages"), headers, body)

    def count_request(self, provider: ProviderEntry, model: str, body: bytes, betas: str | None) -> UpstreamRequest:
        """Anthropic's free token count of a Messages request (`body` names `model`)."""
        headers = self.generate(provider, model, body, False).headers
        if betas:  # a beta tool or context size counts as it would be sent
            headers["anthropic-beta"] = merged_betas(headers.get("anthropic-beta"), betas)
        return UpstreamRequest("POST", self.url(provider, "/messages/count_tokens"), headers, body)

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        return UpstreamRequest("GET", self.url(provider, "/models"), self._headers(provider, "application/json"))

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        return parse_error_body(status, body)
