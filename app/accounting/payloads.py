"""Request and answer bodies kept beside the request log (`POLYROUTE_PAYLOAD_LOG=all|errors`).

What LiteLLM calls storing prompts in spend logs and Portkey its request logs: what was asked and what
came back, for debugging and audits. Off by default. The pipeline captures references to bytes it
already holds (the body as sent upstream, after prompt templates and request hooks, so masked data stays
masked; the upstream's answer, or a stream's text); cutting to the limit happens at capture, decoding and
masking credentials in the usage writer, off the request path. A caller can keep one request out with
`x-polyroute-log-payload: off`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Literal

import msgspec

from app.accounting.events import Payload, UsageEvent
from app.observability.logging import redact

__all__ = ["OPT_OUT_HEADER", "PAYLOAD_COLUMNS", "PAYLOAD_ENDPOINTS", "PayloadLog", "payload_rows"]

OPT_OUT_HEADER = "x-polyroute-log-payload"
PAYLOAD_COLUMNS = ("event_id", "ts", "request", "response", "truncated")
PAYLOAD_ENDPOINTS = frozenset(
    {
        "chat.completions",
        "completions",
        "messages",
        "responses",
        "embeddings",
        "moderations",
        "rerank",
        "images.generations",
    }
)
"""Endpoints whose bodies are JSON text; audio and multipart uploads are not kept."""
_OFF = frozenset({"off", "false", "0", "no"})


class PayloadLog:
    """Which requests keep their bodies, and how much of each."""

    __slots__ = ("errors_only", "max_bytes")

    def __init__(self, mode: Literal["errors", "all"], max_bytes: int) -> None:
        self.errors_only = mode == "errors"
        self.max_bytes = max_bytes

    def wants(self, endpoint: str, status: int, headers: Mapping[str, str]) -> bool:
        if self.errors_only and status < 400:
            return False
        if endpoint not in PAYLOAD_ENDPOINTS:
            return False
        opt_out = headers.get(OPT_OUT_HEADER)
        return opt_out is None or opt_out.strip().lower() not in _OFF

    def capture(self, request: bytes | dict[str, Any], answer: bytes | Callable[[], str] | None) -> Payload:
        """`request` as sent (a hook's rewrite is a dict); `answer` a body, or what makes a stream's text."""
        if isinstance(request, dict):
            request = msgspec.json.encode(request)
        if callable(answer):
            answer = answer().encode()
        response = answer or b""
        limit = self.max_bytes
        truncated = len(request) > limit or len(response) > limit
        return Payload(request=request[:limit], response=response[:limit], truncated=truncated)


def _text(raw: bytes) -> str:
    # A cut may split a UTF-8 sequence: the partial character is dropped, not turned into an error.
    return redact(raw.decode("utf-8", "ignore"))


def payload_rows(events: Sequence[UsageEvent]) -> list[list[Any]]:
    """`usage_payload` rows (`PAYLOAD_COLUMNS` order) of the events that carry bodies."""
    return [
        [e.id, datetime.fromtimestamp(e.ts, UTC), _text(p.request), _text(p.response), p.truncated]
        for e in events
        if (p := e.payload) is not None
    ]
