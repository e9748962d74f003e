"""Deployment quotas: a provider model's `rpm` and `tpm` (LiteLLM's deployment rpm/tpm, an Azure
deployment's quota), which the router respects by skipping a target for the rest of the UTC minute once
it is reached.

Calls and tokens are added to the limiter's counter backend after each call that used a target with a
quota (off the caller's path), so replicas sharing Redis or Postgres share them. Which targets are at
their quota is read back by a background refresh every second into `over`, a frozenset the router
reads: the request path never waits on the counter store. A target may so take up to a second more
traffic than its quota; the upstream's own 429 (retried on the next target) covers the rest.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any

from app.catalog.specs import ModelSpec, is_pattern
from app.gateway.snapshot import ProviderEntry
from app.limits.base import CounterBackend

__all__ = ["DeploymentQuotas", "has_quota"]

log = logging.getLogger("polyroute.limits")

_NOTHING: dict[str, Any] = {}


def has_quota(model: ModelSpec) -> bool:
    return model.rpm is not None or model.tpm is not None


def _counters(target: str, minute: int) -> tuple[str, str]:
    return f"dq:{target}:{minute}", f"dqt:{target}:{minute}"


class DeploymentQuotas:
    def __init__(self, backend: CounterBackend, clock: Callable[[], float] = time.time) -> None:
        self._backend = backend
        self._clock = clock
        self.over: frozenset[str] = frozenset()
        """`provider/model` targets at their rpm or tpm this minute: routes skip them."""
        self.resets: dict[str, float] = {}
        """Target -> seconds until its minute ends (Retry-After when nothing else is left)."""
        self._quotas: dict[str, tuple[int | None, int | None]] = {}
        """Every target with a quota that took a call: what the refresh reads back."""
        self._pending: set[asyncio.Task[None]] = set()

    def add_soon(self, target: str, model: ModelSpec, tokens: int, calls: int = 1) -> None:
        """Count a call (and its tokens) against the target's minute, in the background."""
        if not has_quota(model) or not (calls or tokens):
            return
        self._quotas[target] = (model.rpm, model.tpm)
        task = asyncio.get_running_loop().create_task(self._add(target, tokens, calls))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def _add(self, target: str, tokens: int, calls: int) -> None:
        made, used = _counters(target, int(self._clock() // 60))
        try:
            if calls:
                await self._backend.add(made, calls, 120)
            if tokens:
                await self._backend.add(used, tokens, 120)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not record a deployment's use: %s", exc)

    async def refresh(self, providers: Iterable[ProviderEntry]) -> None:
        """Re-read this minute's calls and tokens of every target with a quota (the listed models, and
        those a glob's quota covered here); an unreachable store keeps the last view."""
        now = self._clock()
        minute, left = int(now // 60), 60 - now % 60
        quotas = dict(self._quotas)
        for provider in providers:
            for model_id, spec in provider.models.items():
                if has_quota(spec) and not is_pattern(model_id):
                    quotas[f"{provider.name}/{model_id}"] = (spec.rpm, spec.tpm)
        over: dict[str, float] = {}
        try:
            for target, (rpm, tpm) in quotas.items():
                calls, used = _counters(target, minute)
                if (rpm is not None and await self._backend.get(calls) >= rpm) or (
                    tpm is not None and await self._backend.get(used) >= tpm
                ):
                    over[target] = left
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not read deployments' use: %s", exc)
            return
        self.over, self.resets = frozenset(over), over

    async def used(self, target: str) -> tuple[int, int]:
        """(calls, tokens) this minute, for the health endpoint; the store away: (0, 0)."""
        made, used = _counters(target, int(self._clock() // 60))
        try:
            return int(await self._backend.get(made)), int(await self._backend.get(used))
        except (ConnectionError, OSError, TimeoutError):
            return 0, 0

    def view(self) -> dict[str, Any]:
        """What the router needs: nothing at all while no target is at its quota."""
        return {"over_quota": self.over, "quota_resets": self.resets} if self.over else _NOTHING

    async def close(self, timeout_s: float = 5.0) -> None:
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
