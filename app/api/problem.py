"""GatewayError -> problem+json, with an `error` member shaped for the caller's SDK."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from app.errors import GatewayError, UpstreamStatusError
from app.observability.logging import redact

__all__ = ["Dialect", "problem_body", "problem_headers", "stream_error_event"]

Dialect = Literal["openai", "anthropic"]

_encode = msgspec.json.encode


def _types(exc: GatewayError) -> tuple[str, str]:
    if isinstance(exc, UpstreamStatusError):
        return exc.dialect_types
    return exc.openai_type, exc.anthropic_type


def error_member(exc: GatewayError, dialect: Dialect) -> dict[str, Any]:
    openai_type, anthropic_type = _types(exc)
    detail = redact(exc.detail)
    if dialect == "anthropic":
        return {
            "type": anthropic_type,
            "message": detail,
            "details": {"error_code": exc.error_code},
        }
    return {"message": detail, "type": openai_type, "code": exc.error_code, "param": exc.param}


def problem_body(exc: GatewayError, dialect: Dialect = "openai", trace_id: str | None = None) -> bytes:
    """RFC 9457 problem document that the OpenAI and Anthropic SDKs also parse."""
    body: dict[str, Any] = {
        "type": exc.type_uri,
        "title": exc.title,
        "status": exc.status_code,
        "detail": redact(exc.detail),
        "code": exc.error_code,
    }
    if trace_id:
        body["trace_id"] = trace_id
    body.update(exc.extra)
    body["error"] = error_member(exc, dialect)
    return _encode(body)


def problem_headers(exc: GatewayError) -> list[tuple[bytes, bytes]]:
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"x-error-code", exc.error_code.encode()),
    ]
    headers.extend((k.lower().encode(), str(v).encode()) for k, v in exc.headers.items())
    return headers


def stream_error_event(exc: GatewayError, dialect: Dialect) -> bytes:
    """The SSE frame that ends a stream which failed after it started."""
    if dialect == "anthropic":
        payload = _encode({"type": "error", "error": error_member(exc, "anthropic")})
        return b"event: error\ndata: " + payload + b"\n\n"
    return b"data: " + _encode({"error": error_member(exc, "openai")}) + b"\n\n"
