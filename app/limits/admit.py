"""Admission: check a key's limits before the call, settle tokens and spend after it."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from app.catalog.specs import Limits, PlanSpec
from app.errors import (
    BudgetExceededError,
    DailyRequestLimitExceededError,
    LimitError,
    RateLimitedError,
    ServiceUnavailableError,
)
from app.gateway.snapshot import KeyRecord
from app.limits.base import CounterBackend, Hit

__all__ = ["Admission", "Limiter", "effective_limits"]

log = logging.getLogger("polyroute.limits")


def effective_limits(key: KeyRecord) -> Limits:
    """The key's own overrides win over its plan's values."""
    plan = key.plan or PlanSpec(name="none")
    own = key.limits
    return Limits(
        daily_requests=own.daily_requests if own.daily_requests is not None else plan.daily_requests,
        rpm=own.rpm if own.rpm is not None else plan.rpm,
        tpm=own.tpm if own.tpm is not None else plan.tpm,
        monthly_budget_usd=own.monthly_budget_usd if own.monthly_budget_usd is not None else plan.monthly_budget_usd,
    )


@dataclass(slots=True)
class Admission:
    headers: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds + 0.999))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


class Limiter:
    """Counters live in a backend (memory or Redis); windows are fixed: UTC minute, day, month."""

    def __init__(
        self, backend: CounterBackend, *, fail_closed: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.backend = backend
        self.fail_closed = fail_closed
        self._clock = clock
        self._warned = False

    def _windows(self, now: float) -> tuple[int, float, str, float, str, float]:
        minute = int(now // 60)
        minute_left = (minute + 1) * 60 - now
        moment = datetime.fromtimestamp(now, UTC)
        day = moment.strftime("%Y%m%d")
        tomorrow = datetime(moment.year, moment.month, moment.day, tzinfo=UTC) + timedelta(days=1)
        day_left = tomorrow.timestamp() - now
        month = moment.strftime("%Y%m")
        next_month = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
        month_left = next_month.timestamp() - now
        return minute, minute_left, day, day_left, month, month_left

    async def admit(self, key: KeyRecord, estimated_tokens: int = 0) -> Admission:
        limits = effective_limits(key)
        if (
            limits.rpm is None
            and limits.daily_requests is None
            and limits.tpm is None
            and (limits.monthly_budget_usd is None)
        ):
            return Admission(limits=limits)
        now = self._clock()
        minute, minute_left, day, day_left, month, month_left = self._windows(now)
        hits: list[tuple[Hit, type[LimitError], float, str]] = []
        if limits.rpm is not None:
            hits.append(
                (
                    Hit(f"rpm:{key.id}:{minute}", limits.rpm, 1, 120),
                    RateLimitedError,
                    minute_left,
                    f"{limits.rpm} requests per minute",
                )
            )
        if limits.daily_requests is not None:
            hits.append(
                (
                    Hit(f"day:{key.id}:{day}", limits.daily_requests, 1, day_left + 60),
                    DailyRequestLimitExceededError,
                    day_left,
                    f"{limits.daily_requests} requests per UTC day",
                )
            )
        if limits.tpm is not None:
            hits.append(
                (
                    Hit(f"tpm:{key.id}:{minute}", limits.tpm, estimated_tokens, 120, check_only=True),
                    RateLimitedError,
                    minute_left,
                    f"{limits.tpm} tokens per minute",
                )
            )
        if limits.monthly_budget_usd is not None:
            hits.append(
                (
                    Hit(f"spend:{key.id}:{month}", limits.monthly_budget_usd, 0, month_left + 3600, check_only=True),
                    BudgetExceededError,
                    month_left,
                    f"a budget of ${limits.monthly_budget_usd:g} per month",
                )
            )
        try:
            verdict, values = await self.backend.hit([h for h, *_ in hits])
        except (ConnectionError, OSError, TimeoutError) as exc:
            return self._backend_down(exc, limits)
        headers = self._headers(limits, hits, values)
        if not verdict.allowed and verdict.refused_index is not None:
            _, error, retry_after, what = hits[verdict.refused_index]
            raise error(f"Limit reached: {what}", retry_after=retry_after, headers=headers)
        return Admission(headers=headers, limits=limits)

    def _backend_down(self, exc: Exception, limits: Limits) -> Admission:
        if self.fail_closed:
            raise ServiceUnavailableError("Rate-limit store unreachable and the policy is fail-closed") from exc
        if not self._warned:
            log.warning("rate-limit store unreachable (%s): admitting without limits (fail-open)", exc)
            self._warned = True
        return Admission(limits=limits)

    def _headers(
        self, limits: Limits, hits: list[tuple[Hit, type[LimitError], float, str]], values: list[float]
    ) -> dict[str, str]:
        headers: dict[str, str] = {}
        for (hit, _, left, _), value in zip(hits, values, strict=True):
            kind = hit.key.split(":", 1)[0]
            if kind in ("rpm", "day") and "x-ratelimit-limit-requests" not in headers:
                headers["x-ratelimit-limit-requests"] = str(int(hit.limit))
                headers["x-ratelimit-remaining-requests"] = str(max(0, int(hit.limit - value)))
                headers["x-ratelimit-reset-requests"] = _duration(left)
            elif kind == "tpm":
                headers["x-ratelimit-limit-tokens"] = str(int(hit.limit))
                headers["x-ratelimit-remaining-tokens"] = str(max(0, int(hit.limit - value)))
                headers["x-ratelimit-reset-tokens"] = _duration(left)
        return headers

    async def settle(self, key: KeyRecord, limits: Limits, tokens: int, cost: float) -> None:
        """After the call: count its real tokens and spend against the windows."""
        if not (limits.tpm or limits.monthly_budget_usd):
            return
        now = self._clock()
        minute, _, _, _, month, month_left = self._windows(now)
        try:
            if limits.tpm and tokens:
                await self.backend.add(f"tpm:{key.id}:{minute}", tokens, 120)
            if limits.monthly_budget_usd is not None and cost:
                await self.backend.add(f"spend:{key.id}:{month}", cost, month_left + 3600)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not record usage against limits: %s", exc)
