"""Reading upstream error bodies of every shape (JSON of any dialect, HTML, text)."""

from __future__ import annotations

import re

import msgspec

from app.providers.base import UpstreamError

__all__ = ["ANTHROPIC_ERROR_STATUS", "ANTHROPIC_ERROR_TYPES", "parse_error_body"]

ANTHROPIC_ERROR_STATUS = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}
"""Anthropic's error types and the HTTP status each comes with."""
ANTHROPIC_ERROR_TYPES = {status: kind for kind, status in ANTHROPIC_ERROR_STATUS.items()}

_POLICY = re.compile(r"content[_ -]?(policy|filter|management)|safety|moderation|responsible ai", re.I)
_CONTEXT = re.compile(r"context[_ ]length|context window|too many tokens|maximum context|prompt is too long", re.I)


def _text(body: bytes) -> str:
    text = body.decode("utf-8", "replace").strip()
    if text.lstrip().startswith("<"):
        title = re.search(r"<title>(.*?)</title>", text, re.I | re.S)
        text = title.group(1).strip() if title else re.sub(r"<[^>]+>", " ", text)
        text = " ".join(text.split())
    return text[:500]


def parse_error_body(status: int, body: bytes) -> UpstreamError:
    """OpenAI `{"error": {...}}`, Anthropic `{"type": "error", "error": {...}}`, Gemini `{"error": {"status"}}`."""
    message, code, kind = "", None, None
    try:
        doc = msgspec.json.decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        doc = None
    if isinstance(doc, list) and doc and isinstance(doc[0], dict):
        doc = doc[0]  # Gemini sometimes wraps the error in a list
    if isinstance(doc, dict):
        err = doc.get("error", doc)
        if isinstance(err, dict):
            message = str(err.get("message") or err.get("detail") or "")
            raw_code = err.get("code")
            code = str(raw_code) if raw_code is not None else None
            kind = err.get("type") or err.get("status")
            kind = str(kind) if kind is not None else None
        elif isinstance(err, str):
            message = err
    if not message:
        message = _text(body) or f"upstream returned HTTP {status}"
    haystack = f"{message} {code or ''} {kind or ''}"
    return UpstreamError(
        message=message,
        code=code,
        type=kind,
        content_policy=bool(_POLICY.search(haystack)),
        context_length=bool(_CONTEXT.search(haystack)),
    )
