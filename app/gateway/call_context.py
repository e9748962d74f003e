"""What one call accumulates on its way through the pipeline, and what its usage row keeps of it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.accounting.attribution import body_end_user, merged_tags
from app.accounting.events import Usage, event_id
from app.cache.entry import CachedAnswer
from app.cache.response_cache import CacheTicket
from app.errors import GatewayError
from app.gateway.attempt_outcomes import StreamStarted, Target
from app.gateway.attempts import AttemptLoop
from app.gateway.cache_reply import cache_detail
from app.gateway.call import Call
from app.gateway.hooks_runner import HookRun
from app.gateway.snapshot import KeyRecord, ResolvedModel
from app.gateway.streaming import StreamOutcome
from app.limits.admit import Admission
from app.observability.logging import redact
from strategies.base import Candidate

__all__ = ["CallContext"]


@dataclass(slots=True)
class CallContext:
    """What one call accumulates on its way through; handed to accounting at the end."""

    call: Call
    key: KeyRecord | None = None
    resolved: ResolvedModel | None = None
    admission: Admission | None = None
    loop: AttemptLoop | None = None
    ranked: list[Candidate] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    explanation: dict[str, Any] | None = None
    cut: GatewayError | None = None
    headers: dict[str, str] = field(default_factory=dict)
    hooks: HookRun | None = None
    cache: CacheTicket | None = None
    hit: CachedAnswer | None = None
    blocked: GatewayError | None = None
    """A hook's rejection after the answer started (accounted instead of the stream's own status)."""
    accounted: bool = False
    ended: tuple[StreamStarted, StreamOutcome] | None = None
    spent: tuple[Usage, float] | None = None
    """A finished stream's usage and cost (what a cache hit on it saves)."""
    malformed: int = 0
    """Upstream SSE frames skipped because they did not parse; the request log counts them."""
    prompt: str | None = None
    """`name@version` of the prompt template the request named (rendered into its body)."""
    end_user: str | None = None
    tags: tuple[str, ...] = ()
    """Named by the caller's headers (`app/accounting/attribution.py`)."""

    def detail(self, error: GatewayError | None) -> tuple[str, dict[str, Any] | None]:
        """The usage row's id and its `detail`: attempts, ranking, explanation, recovery, cache, hooks, error."""
        records = self.loop.records if self.loop else []
        detail: dict[str, Any] | None = None
        if records:
            detail = {"attempts": [r.as_dict() for r in records]}
            if len(self.ranked) > 1:
                detail["ranked"] = [c.key for c in self.ranked]
            if self.explanation is not None:
                detail["explain"] = self.explanation
            if self.cut is not None:
                detail["recovered_from"] = self.cut.detail
            if self.malformed:
                detail["malformed_frames"] = self.malformed
        if error is not None:
            detail = {**(detail or {}), "error": redact(error.detail[:500])}
        if self.cache is not None or self.hooks is not None:
            detail = cache_detail(detail, self.cache, self.hit, self.hooks)
        row_id, client_id = event_id(self.call.request_id)
        if client_id is not None:
            detail = {**(detail or {}), "client_request_id": client_id}
        return row_id, detail

    def named_end_user(self) -> str | None:
        """The end user the headers name, else the one the body names in its dialect's own field."""
        if self.end_user is None and self.call.parsed is not None and self.call.parsed.body:
            return body_end_user(self.call.parsed.body)
        return self.end_user

    def attribution(self) -> tuple[str | None, tuple[str, ...]]:
        """The end user and the key's and headers' tags, as the usage row keeps them."""
        own = self.key.tags if self.key is not None else ()
        return self.named_end_user(), merged_tags(own, self.tags) if own and self.tags else own or self.tags
