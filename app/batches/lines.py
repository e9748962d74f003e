"""Batch input lines in, output and error lines out: OpenAI's JSONL shapes, pure functions.

An input line is `{"custom_id", "method": "POST", "url": <the batch's endpoint>, "body": {...}}`.
A line that is not one (bad JSON, a missing or repeated `custom_id`, another url) becomes a
non-HTTP error, `{"response": null, "error": {"code", "message"}}`; a body the endpoint or the
model check rejects becomes the HTTP error it would have been. Every other line runs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from app.api.problem import error_member
from app.errors import GatewayError
from app.gateway.snapshot import ResolvedModel

__all__ = [
    "ENDPOINTS",
    "MAX_LINES",
    "MESSAGES_ENDPOINT",
    "LineSpec",
    "error_line",
    "http_error",
    "output_line",
    "read_lines",
    "to_jsonl",
]

ENDPOINTS = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses")
"""What a batch may call (OpenAI's batch endpoints the gateway serves)."""
MESSAGES_ENDPOINT = "/v1/messages"
"""The endpoint of Anthropic's message batches (`message_batches.py`), run by the same runner."""
MAX_LINES = 50_000

Json = dict[str, Any]


@dataclass(slots=True)
class LineSpec:
    """One input line: what to send, or why it cannot be sent."""

    line_no: int
    custom_id: str | None
    body: Json | None
    resolved: ResolvedModel | None = None
    status_code: int | None = None
    """An HTTP error the request would have got (with `response`), else None."""
    response: Json | None = None
    error: Json | None = None
    """A non-HTTP error: the line itself is malformed."""

    @property
    def valid(self) -> bool:
        return self.body is not None and self.error is None and self.status_code is None


def http_error(exc: GatewayError) -> tuple[int, Json]:
    """The status and OpenAI error body a call would have answered with."""
    return exc.status_code, {"error": error_member(exc, "openai")}


def _shape(doc: Any, endpoint: str, seen: set[str]) -> tuple[str | None, Json | None, str | None]:
    """(custom_id, body, problem) of a decoded line."""
    if not isinstance(doc, dict):
        return None, None, "each line must be a JSON object"
    custom_id = doc.get("custom_id")
    if not isinstance(custom_id, str) or not custom_id:
        return None, None, "'custom_id' must be a non-empty string"
    if custom_id in seen:
        return custom_id, None, f"'custom_id' {custom_id!r} is used by an earlier line"
    seen.add(custom_id)
    if str(doc.get("method", "POST")).upper() != "POST":
        return custom_id, None, "'method' must be POST"
    if doc.get("url") != endpoint:
        return custom_id, None, f"'url' must be the batch's endpoint {endpoint}"
    body = doc.get("body")
    if not isinstance(body, dict):
        return custom_id, None, "'body' must be a JSON object"
    return custom_id, body, None


def read_lines(content: bytes, endpoint: str, check: Callable[[Json], ResolvedModel]) -> list[LineSpec]:
    """Every non-blank line of the file; `check(body)` raises the error the call would get, else
    returns the resolved model."""
    seen: set[str] = set()
    specs: list[LineSpec] = []
    for number, raw in enumerate(content.splitlines()):
        if not raw.strip():
            continue
        try:
            doc = msgspec.json.decode(raw)
        except (msgspec.DecodeError, UnicodeDecodeError):
            specs.append(LineSpec(number, None, None, error=_invalid(f"line {number + 1} is not valid JSON")))
            continue
        custom_id, body, problem = _shape(doc, endpoint, seen)
        if body is None:
            specs.append(LineSpec(number, custom_id, None, error=_invalid(f"line {number + 1}: {problem}")))
            continue
        spec = LineSpec(number, custom_id, body)
        try:
            spec.resolved = check(body)
        except GatewayError as exc:
            spec.status_code, spec.response = http_error(exc)
        specs.append(spec)
    return specs


def _invalid(message: str) -> Json:
    return {"code": "invalid_request", "message": message}


def output_line(line_id: str, custom_id: str | None, status_code: int, request_id: str | None, body: Any) -> Json:
    response = {"status_code": status_code, "request_id": request_id, "body": body}
    return {"id": line_id, "custom_id": custom_id, "response": response, "error": None}


def error_line(line_id: str, custom_id: str | None, error: Json) -> Json:
    return {"id": line_id, "custom_id": custom_id, "response": None, "error": error}


def to_jsonl(lines: list[Json]) -> bytes:
    return b"".join(msgspec.json.encode(line) + b"\n" for line in lines)
