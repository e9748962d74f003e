"""The few Realtime API events the gateway reads or changes; every other frame passes untouched.

Pure functions on frame text. A frame is decoded only when its first bytes name one of these events
(servers and SDKs write `type` first or right after `event_id`); audio appends and deltas, most of
the traffic, are never parsed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.errors import GatewayError
from app.gateway.chat_passthrough import count_field
from app.ids import request_id
from app.observability.logging import redact

__all__ = ["error_event", "response_done", "rewrite_session_model"]

_HEAD = 160
"""How far into a frame its `type` is looked for."""


def _named(text: str, event: str) -> dict[str, Any] | None:
    if text.find(f'"{event}"', 0, _HEAD) == -1:
        return None
    try:
        doc = msgspec.json.decode(text)
    except msgspec.DecodeError:
        return None
    return doc if isinstance(doc, dict) and doc.get("type") == event else None


def response_done(text: str) -> tuple[Usage, str] | None:
    """A `response.done` event's usage and the response's status (`completed`, `cancelled`, `failed`...)."""
    doc = _named(text, "response.done")
    if doc is None:
        return None
    response = doc.get("response")
    if not isinstance(response, dict):
        return Usage(), "completed"
    status = response.get("status")
    return realtime_usage(response.get("usage")), status if isinstance(status, str) else "completed"


def realtime_usage(raw: Any) -> Usage:
    """`{input_tokens, output_tokens, input_token_details: {cached_tokens, audio_tokens,
    cached_tokens_details: {audio_tokens}}, output_token_details: {audio_tokens}}`."""
    if not isinstance(raw, dict):
        return Usage()
    details_in = raw.get("input_token_details")
    cached_in = details_in.get("cached_tokens_details") if isinstance(details_in, dict) else None
    audio_in = count_field(details_in, "audio_tokens") - count_field(cached_in, "audio_tokens")
    return Usage(
        prompt_tokens=count_field(raw, "input_tokens"),
        completion_tokens=count_field(raw, "output_tokens"),
        cached_tokens=count_field(details_in, "cached_tokens"),
        audio_prompt_tokens=max(0, audio_in),
        audio_completion_tokens=count_field(raw.get("output_token_details"), "audio_tokens"),
    )


def rewrite_session_model(text: str, model: str) -> str:
    """A client's `session.update` naming a model names the upstream's (the caller used our name for it)."""
    doc = _named(text, "session.update")
    if doc is None:
        return text
    session = doc.get("session")
    if not isinstance(session, dict) or "model" not in session:
        return text
    session["model"] = model
    return msgspec.json.encode(doc).decode()


def error_event(exc: GatewayError) -> str:
    """What the Realtime API sends when something goes wrong inside a session."""
    error = {
        "type": exc.openai_type,
        "code": exc.error_code,
        "message": redact(exc.detail),
        "param": exc.param,
        "event_id": None,
    }
    return msgspec.json.encode({"type": "error", "event_id": f"event_{request_id()}", "error": error}).decode()
