"""Vendor passthrough: any method and path of a provider's native API, our key swapped for theirs.

The caller's plan, limits and accounting still apply; usage is read from the answer where the
dialect is known. Bodies, query strings and streams pass through untouched; hop-by-hop and
credential headers are dropped both ways.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import msgspec

from app.accounting.attribution import header_labels, merged_tags
from app.accounting.cost import cost_usd
from app.accounting.events import Usage, UsageEvent, event_id
from app.errors import (
    ModelNotAllowedError,
    NotFoundError,
    ProviderError,
    ProviderTimeoutError,
    ServiceUnavailableError,
)
from app.gateway.call import Reply
from app.gateway.chat_passthrough import openai_usage
from app.gateway.keys import authenticate
from app.gateway.messages_passthrough import anthropic_usage
from app.gateway.resolve import model_allowed
from app.gateway.responses_passthrough import responses_api_usage
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ProviderEntry
from app.gateway.sse import SSESplitter, frame_data
from app.gateway.tracing import TraceContext
from app.gateway.upstream import UpstreamBusy, UpstreamFailure, UpstreamPool, UpstreamResponse, UpstreamTimeout
from app.providers.base import Dialect, RequestAuthorizer, UpstreamRequest
from app.providers.registry import ADAPTERS
from app.translate.converse.response import chat_usage_from_converse
from app.translate.gemini.response import chat_usage_from_gemini

__all__ = [
    "VendorCall",
    "find_provider",
    "handle_vendor",
    "open_upstream",
    "read_usage",
    "response_headers",
    "upstream_url",
]

HOP_BY_HOP = {
    "connection",
    "keep-alive",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "trailers",
    "transfer-encoding",
    "upgrade",
    "host",
    "content-length",
}
CREDENTIALS = {"authorization", "x-api-key", "x-goog-api-key", "api-key", "x-amz-security-token", "cookie"}
RESPONSE_DROP = HOP_BY_HOP | {"content-encoding", "set-cookie", "server", "date"}
_GEMINI_MODEL = re.compile(r"models/([^/:]+)")
_BEDROCK_MODEL = re.compile(r"^/?model/([^/]+)/(?:invoke|converse)")


@dataclass(slots=True)
class VendorCall:
    method: str
    provider_ref: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    trace: TraceContext
    request_id: str


def find_provider(snapshot: CatalogSnapshot, ref: str) -> ProviderEntry:
    """By config name, else the first enabled provider of that kind."""
    found = snapshot.providers.get(ref)
    if found is None:
        found = next((p for p in snapshot.providers.values() if p.kind == ref and p.enabled), None)
    if found is None or not found.enabled:
        raise NotFoundError(f"No provider named or of kind '{ref}'")
    return found


def upstream_url(provider: ProviderEntry, path: str, query: str) -> str:
    """The native path is joined to the base URL's origin when it repeats the base path (`v1/...`)."""
    base = urlsplit(provider.base_url)
    base_path = base.path.strip("/")
    origin = f"{base.scheme}://{base.netloc}"
    clean = path.lstrip("/")
    url = f"{origin}/{clean}" if not base_path or clean.startswith(base_path) else f"{origin}/{base_path}/{clean}"
    # Untouched, except a `key=` parameter: that would be the caller's key (Gemini style).
    kept = "&".join(p for p in query.split("&") if p and not p.startswith("key="))
    return url + ("?" + kept if kept else "")


def requested_model(path: str, body: bytes, headers: dict[str, str]) -> str | None:
    match = _GEMINI_MODEL.search(path) or _BEDROCK_MODEL.match(path)
    if match:
        return unquote(match.group(1))
    if body[:1] == b"{" and "json" in headers.get("content-type", "json"):
        try:
            doc = msgspec.json.decode(body)
        except (msgspec.DecodeError, UnicodeDecodeError):
            return None
        model = doc.get("model") if isinstance(doc, dict) else None
        return model if isinstance(model, str) else None
    return None


def read_usage(dialect: Dialect, doc: Any) -> Usage | None:
    if not isinstance(doc, dict):
        return None
    if dialect == "anthropic":  # Anthropic's, and Bedrock's and Vertex's answers for Claude
        usage = doc.get("usage") or (doc.get("message") or {}).get("usage")
        return anthropic_usage(usage)
    if dialect == "gemini":
        meta = doc.get("usageMetadata")
        return openai_usage(chat_usage_from_gemini(meta)) if isinstance(meta, dict) else None
    if dialect == "converse":  # a whole answer's, or a stream's `metadata` event's
        raw = doc.get("usage")
        return openai_usage(chat_usage_from_converse(raw)) if isinstance(raw, dict) else None
    raw = doc.get("usage") or (doc.get("response") or {}).get("usage")
    if isinstance(raw, dict) and "input_tokens" in raw:
        return responses_api_usage(raw)
    return openai_usage(raw)


class _UsageSniffer:
    """Keeps the last usage a stream or body reports, decoding only frames that mention usage."""

    def __init__(self, dialect: Dialect) -> None:
        self.dialect: Dialect = dialect
        self.usage: Usage | None = None
        self._splitter = SSESplitter()
        self._anthropic: dict[str, int] = {}

    def body(self, raw: bytes) -> None:
        try:
            self.usage = read_usage(self.dialect, msgspec.json.decode(raw)) or self.usage
        except (msgspec.DecodeError, UnicodeDecodeError):
            return

    def chunk(self, chunk: bytes) -> None:
        for frame in self._splitter.feed(chunk):
            data = frame_data(frame)
            if data is None or (b"usage" not in data and b"usageMetadata" not in data):
                continue
            try:
                doc = msgspec.json.decode(data)
            except (msgspec.DecodeError, UnicodeDecodeError):
                continue
            found = read_usage(self.dialect, doc)
            if found is None:
                continue
            if self.dialect == "anthropic":  # message_start has the input, message_delta the output
                found = Usage(
                    prompt_tokens=max(found.prompt_tokens, self.usage.prompt_tokens if self.usage else 0),
                    completion_tokens=found.completion_tokens,
                    cached_tokens=found.cached_tokens,
                )
            self.usage = found


def _request_headers(headers: dict[str, str], provider: ProviderEntry, trace: TraceContext) -> dict[str, str]:
    out = {
        k: v
        for k, v in headers.items()
        if k not in HOP_BY_HOP and k not in CREDENTIALS and not k.startswith("x-polyroute-")  # ours, not theirs
    }
    out.update(provider.headers)
    out.update(ADAPTERS[provider.kind].auth_headers(provider))
    out["traceparent"] = trace.child().traceparent
    return out


def response_headers(resp: UpstreamResponse) -> list[tuple[bytes, bytes]]:
    return [
        (k.lower().encode(), v.encode("latin-1", "replace"))
        for k, v in resp.headers.items()
        if k.lower() not in RESPONSE_DROP and k.lower() not in CREDENTIALS
    ]


@dataclass(slots=True)
class VendorResult:
    key: KeyRecord
    provider: ProviderEntry
    model: str | None
    response: UpstreamResponse
    sniffer: _UsageSniffer
    started: float


async def open_vendor(
    call: VendorCall, snapshot: CatalogSnapshot, pool: UpstreamPool, admit: Callable[[KeyRecord], Any]
) -> VendorResult:
    """Authenticate, authorise, admit, and send; the caller streams or reads the response."""
    headers = dict(call.headers)
    query_key = dict(parse_qsl(call.query)).get("key")
    if query_key and "authorization" not in headers and "x-api-key" not in headers:
        headers["x-goog-api-key"] = query_key
    key = authenticate(headers, snapshot)
    provider = find_provider(snapshot, call.provider_ref)
    model = requested_model(call.path, call.body, call.headers)
    name = f"{provider.name}/{model or '*'}"
    if not model_allowed(key, name):
        raise ModelNotAllowedError(f"'{name}' is not allowed for this API key's plan")
    await admit(key)
    req = UpstreamRequest(
        call.method,
        upstream_url(provider, call.path, call.query),
        _request_headers(call.headers, provider, call.trace),
        call.body or None,
    )
    adapter = ADAPTERS[provider.kind]
    if isinstance(adapter, RequestAuthorizer):  # credentials that are more than a header (SigV4, OAuth)
        req = adapter.authorized(provider, req)
    started = time.perf_counter()
    resp = await open_upstream(pool, provider, req)
    return VendorResult(key, provider, model, resp, _UsageSniffer(adapter.dialect), started)


async def open_upstream(pool: UpstreamPool, provider: ProviderEntry, req: UpstreamRequest) -> UpstreamResponse:
    """One call to a provider's own API (one of its `max_concurrent` slots), its failures as our errors."""
    try:
        return await pool.open(provider.name, req, first_byte_timeout=provider.timeout_s, limit=provider.max_concurrent)
    except UpstreamBusy as exc:
        raise ServiceUnavailableError(str(exc), headers={"Retry-After": "1"}) from None
    except UpstreamTimeout:
        raise ProviderTimeoutError(f"{provider.name} did not answer within {provider.timeout_s:g}s") from None
    except UpstreamFailure as exc:
        raise ProviderError(f"{provider.name}: {exc}") from None


async def stream_body(result: VendorResult, on_done: Callable[[int], None]) -> AsyncIterator[bytes]:
    """The upstream body as it arrives; `on_done(status)` runs once at the end (499 if the caller left)."""
    status = 499
    stall = result.provider.stall_timeout_s or result.provider.timeout_s
    try:
        while True:
            chunk = await result.response.next_chunk(stall)
            if not chunk:
                break
            result.sniffer.chunk(chunk)
            yield chunk
        status = result.response.status
    except UpstreamFailure:
        status = 502
    finally:
        result.response.close()
        on_done(status)


async def handle_vendor(gateway: Any, call: VendorCall) -> Reply:
    """The whole passthrough: open, then stream or read the answer, and account for it."""
    admission: dict[str, Any] = {}
    labels: tuple[str | None, tuple[str, ...]] = (None, ())

    async def admit(key: KeyRecord) -> None:
        nonlocal labels
        labels = header_labels(call.headers)  # after the key is known, before anything is counted or sent
        admission["value"] = await gateway.limiter.admit(key, labels[0])

    result = await open_vendor(call, gateway.catalog.snapshot, gateway.pool, admit)
    extra = admission["value"].headers if "value" in admission else {}

    def account(status: int) -> None:
        usage = result.sniffer.usage or Usage()
        model = result.provider.model(result.model) if result.model else None
        cost = cost_usd(model, usage) if model else 0.0
        if "value" in admission and (usage.total_tokens or cost):  # tokens and spend count as on any call
            admitted = admission["value"]
            gateway.limiter.settle_soon(result.key, admitted.limits, usage.total_tokens, cost, admitted.end_user)
        if cost and gateway.provider_spend is not None:  # the provider's own budget counts native calls too
            gateway.provider_spend.add_soon(result.provider, cost)
        gateway.usage.put(
            UsageEvent(
                id=event_id(call.request_id)[0],
                ts=time.time(),
                endpoint="vendor",
                status=status,
                key_id=result.key.id,
                user_id=result.key.user_id,
                plan=result.key.plan.name if result.key.plan else None,
                requested_model=result.model,
                provider=result.provider.name,
                model=result.model,
                usage=usage,
                cost_usd=cost,
                latency_ms=(time.perf_counter() - result.started) * 1000,
                attempts=1,
                trace_id=call.trace.trace_id,
                detail={"path": call.path[:200], "method": call.method},
                end_user=labels[0],
                tags=merged_tags(result.key.tags, labels[1]),
            )
        )

    headers = response_headers(result.response)
    headers += [(k.encode(), v.encode()) for k, v in extra.items()]
    headers.append((b"x-polyroute-provider", result.provider.name.encode()))
    content_type = result.response.headers.get("content-type", "")
    if "event-stream" in content_type or (call.method == "GET" and "json" not in content_type):
        return Reply(result.response.status, headers, stream=stream_body(result, account))
    try:
        body = await result.response.read(result.provider.timeout_s)
    except UpstreamFailure as exc:
        account(502)
        raise ProviderError(f"{result.provider.name}: {exc}") from None
    finally:
        result.response.close()
    result.sniffer.body(body)
    account(result.response.status)
    return Reply(result.response.status, headers, body)
