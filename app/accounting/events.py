"""What one request cost: token usage and the usage event the writer stores."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any

import msgspec

from app.ids import request_id as new_request_id

__all__ = ["TAG_COLUMNS", "Payload", "Usage", "UsageEvent", "event_id", "tag_rows"]


class Usage(msgspec.Struct, kw_only=True):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached_tokens: int = 0
    """Prompt tokens served from the provider's prompt cache (billed at the cached price)."""
    reasoning_tokens: int = 0
    """Completion tokens spent on reasoning (already included in completion_tokens)."""
    estimated: bool = False
    """Counted by us with bpe-openai because the upstream reported nothing."""
    images: int = 0
    """Images generated (for models priced per image)."""
    characters: int = 0
    """Input characters converted to speech (for models priced per 1k characters)."""
    audio_seconds: float = 0.0
    """Seconds of audio transcribed or translated (for models priced per minute)."""
    audio_prompt_tokens: int = 0
    audio_completion_tokens: int = 0
    """Tokens of audio in (not served from the prompt cache) and out, already included in prompt_tokens and
    completion_tokens (Realtime, audio chat models); priced at the model's audio prices where it has them."""

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            cached_tokens=self.cached_tokens + other.cached_tokens,
            reasoning_tokens=self.reasoning_tokens + other.reasoning_tokens,
            estimated=self.estimated or other.estimated,
            images=self.images + other.images,
            characters=self.characters + other.characters,
            audio_seconds=self.audio_seconds + other.audio_seconds,
            audio_prompt_tokens=self.audio_prompt_tokens + other.audio_prompt_tokens,
            audio_completion_tokens=self.audio_completion_tokens + other.audio_completion_tokens,
        )

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class Payload(msgspec.Struct, kw_only=True):
    """The bodies kept with a request-log row (`POLYROUTE_PAYLOAD_LOG`), each already cut to the limit."""

    request: bytes
    """As sent upstream: after prompt templates and request hooks (masked data stays masked)."""
    response: bytes = b""
    """The upstream's answer: a whole body, or a stream's text; empty for a refusal."""
    truncated: bool = False


class UsageEvent(msgspec.Struct, kw_only=True):
    """One request, as the request log and the rollups see it."""

    id: str
    ts: float
    endpoint: str
    status: int
    key_id: str | None = None
    user_id: str | None = None
    plan: str | None = None
    requested_model: str | None = None
    route: str | None = None
    provider: str | None = None
    model: str | None = None
    error_code: str | None = None
    stream: bool = False
    usage: Usage = msgspec.field(default_factory=Usage)
    cost_usd: float = 0.0
    latency_ms: float = 0.0
    ttft_ms: float | None = None
    attempts: int = 0
    detail: dict[str, Any] | None = None
    """Per-attempt record and routing explanation; small."""
    trace_id: str | None = None
    end_user: str | None = None
    """The caller's own user this request was for (`app/accounting/attribution.py`)."""
    tags: tuple[str, ...] = ()
    """The key's and the request's tags."""
    payload: Payload | None = None
    """The bodies, when `POLYROUTE_PAYLOAD_LOG` keeps this request's (`usage_payload`)."""


_OURS = re.compile(r"^req_[0-9a-f]{24}(-[a-z0-9]+)?$")


def event_id(request_id: str) -> tuple[str, str | None]:
    """A unique id for the usage row, and the caller's own x-request-id when it was theirs.

    Callers may send any x-request-id (and reuse it); rows are keyed by id and written
    idempotently, so a caller's id is never the row's id.
    """
    if _OURS.match(request_id):
        return request_id, None
    return new_request_id(), request_id


TAG_COLUMNS = ("event_id", "tag")


def tag_rows(events: Iterable[UsageEvent]) -> list[list[object]]:
    """`usage_tag` rows (`TAG_COLUMNS` order) of events being logged for the first time."""
    return [[e.id, tag] for e in events for tag in e.tags]
