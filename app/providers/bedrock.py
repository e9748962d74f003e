"""AWS Bedrock runtime: Claude through InvokeModel (kind `bedrock`), any model through Converse (`bedrock-converse`).

Kind `bedrock` sends Anthropic's Messages body through InvokeModel, signed with SigV4.

The body is Anthropic's, with three differences Bedrock asks for: no `model` (it is in the path), no
`stream` (the path says it: `/invoke` or `/invoke-with-response-stream`), and `anthropic_version:
bedrock-2023-05-31`; betas go in the body as `anthropic_beta`. Answers are Anthropic's Message JSON; a
stream is AWS's binary event stream, each event wrapping one Anthropic SSE event, which
`aws_eventstream.BedrockStreamSplitter` turns back into SSE frames, so every Anthropic relay and
translator serves Bedrock unchanged.

Credentials (the provider's `api_key`): a Bedrock API key (sent as a Bearer token) or
`ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` (each request signed with SigV4 for service `bedrock`).
The region is the provider's `region`, else the one in the base URL's host
(`https://bedrock-runtime.us-east-1.amazonaws.com`), else us-east-1.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import quote, urlsplit

import msgspec

from app.providers.aws_sigv4 import parse_credentials, region_from_host, sign
from app.providers.base import Capabilities, Dialect, UpstreamError, UpstreamRequest
from app.providers.errors import parse_error_body

if TYPE_CHECKING:
    from app.gateway.snapshot import ProviderEntry

__all__ = [
    "BEDROCK_ANTHROPIC_VERSION",
    "EVENTSTREAM",
    "BedrockAdapter",
    "BedrockConverseAdapter",
    "bedrock_body",
]

BEDROCK_ANTHROPIC_VERSION = "bedrock-2023-05-31"
EVENTSTREAM = "application/vnd.amazon.eventstream"
DEFAULT_REGION = "us-east-1"
_DROPPED = ("model", "stream")
_CONTEXT = re.compile(r"input is too long|too many (input )?tokens|prompt is too long|context window", re.I)
_decode = msgspec.json.Decoder(dict[str, Any])
_encode = msgspec.json.encode


def bedrock_body(body: bytes, betas: str | None = None) -> bytes:
    """An Anthropic Messages body as Bedrock's InvokeModel takes it (see the module doc)."""
    doc = _decode.decode(body)
    for name in _DROPPED:
        doc.pop(name, None)
    doc.setdefault("anthropic_version", BEDROCK_ANTHROPIC_VERSION)
    if betas:
        flags = [flag.strip() for flag in betas.split(",") if flag.strip()]
        doc["anthropic_beta"] = list(dict.fromkeys([*doc.get("anthropic_beta", ()), *flags]))
    return _encode(doc)


class _BedrockRuntime:
    """Bedrock's runtime endpoint, whatever the API: credentials, region, errors, and the control plane
    (`bedrock.<region>`) answering the free probe.

    The runtime has no free request, and the control plane's may be refused to a least-privilege key
    (`bedrock:InvokeModel*` only): a 403 there must not open the breakers of models that answer, so both
    kinds say `models_endpoint=False` and are probed only when asked (the admin API, "test connection")."""

    probe_provider: ClassVar[str] = ""
    """The model provider the probe lists (`anthropic`); empty: all."""

    def auth_headers(self, provider: ProviderEntry) -> dict[str, str]:
        """A Bedrock API key's header; SigV4 credentials sign each request instead (`signed`)."""
        if provider.api_key and parse_credentials(provider.api_key) is None:
            return {"authorization": f"Bearer {provider.api_key.strip()}"}
        return {}

    def region(self, provider: ProviderEntry) -> str:
        return provider.region or region_from_host(urlsplit(provider.base_url).netloc) or DEFAULT_REGION

    def authorized(self, provider: ProviderEntry, req: UpstreamRequest) -> UpstreamRequest:
        return self.signed(provider, req)

    def signed(self, provider: ProviderEntry, req: UpstreamRequest, now: datetime | None = None) -> UpstreamRequest:
        """The request with the provider's credentials on it: a Bearer API key, or a SigV4 signature."""
        credentials = parse_credentials(provider.api_key) if provider.api_key else None
        if credentials is None:
            return replace(req, headers={**req.headers, **self.auth_headers(provider)})
        added = sign(
            req.method,
            req.url,
            req.headers,
            req.body,
            access_key=credentials.access_key,
            secret_key=credentials.secret_key,
            session_token=credentials.session_token,
            region=self.region(provider),
            service="bedrock",
            now=now or datetime.now(UTC),
        )
        return replace(req, headers={**req.headers, **added})

    def model_request(
        self, provider: ProviderEntry, model: str, action: str, body: bytes, stream: bool
    ) -> UpstreamRequest:
        """POST `/model/{model id}/{action}`, signed; the id is one path segment (ARNs have slashes)."""
        url = f"{provider.base_url.rstrip('/')}/model/{quote(model, safe='')}/{action}"
        accept = EVENTSTREAM if stream else "application/json"
        headers = {"content-type": "application/json", "accept": accept, **provider.headers}
        return self.signed(provider, UpstreamRequest("POST", url, headers, body))

    def probe(self, provider: ProviderEntry) -> UpstreamRequest:
        """The control plane's model list, free: `bedrock.<region>` beside `bedrock-runtime.<region>`."""
        base = provider.base_url.rstrip("/").replace("://bedrock-runtime", "://bedrock", 1)
        query = f"?byProvider={self.probe_provider}" if self.probe_provider else ""
        url = f"{base}/foundation-models{query}"
        return self.signed(provider, UpstreamRequest("GET", url, {"accept": "application/json", **provider.headers}))

    def parse_error(self, status: int, body: bytes) -> UpstreamError:
        """`{"message": ...}`; Bedrock words a prompt over the context window its own way."""
        parsed = parse_error_body(status, body)
        if status == 400 and _CONTEXT.search(parsed.message):
            parsed = replace(parsed, code="context_length_exceeded", context_length=True)
        return parsed


class BedrockAdapter(_BedrockRuntime):
    """Claude through InvokeModel: Anthropic's own body and events (see the module doc)."""

    kind: ClassVar[str] = "bedrock"
    dialect: ClassVar[Dialect] = "anthropic"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=True, json_schema=True, models_endpoint=False)
    probe_provider: ClassVar[str] = "anthropic"

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        action = "invoke-with-response-stream" if stream else "invoke"
        return self.model_request(provider, model, action, bedrock_body(body), stream)

    def with_betas(self, provider: ProviderEntry, req: UpstreamRequest, betas: str) -> UpstreamRequest:
        """`generate`'s request carrying the caller's `anthropic-beta` flags, in the body where Bedrock reads
        them (and so signed again)."""
        return self.signed(provider, replace(req, body=bedrock_body(req.body or b"{}", betas)))


class BedrockConverseAdapter(_BedrockRuntime):
    """Every Bedrock model family through the Converse API (`/converse`, `/converse-stream`), translated from
    Chat Completions (`app.translate.converse`); its stream's events come through `BedrockStreamSplitter`."""

    kind: ClassVar[str] = "bedrock-converse"
    dialect: ClassVar[Dialect] = "converse"
    capabilities: ClassVar[Capabilities] = Capabilities(prefill=False, json_schema=False, models_endpoint=False)

    def generate(self, provider: ProviderEntry, model: str, body: bytes, stream: bool) -> UpstreamRequest:
        return self.model_request(provider, model, "converse-stream" if stream else "converse", body, stream)
