"""Admission: check a key's limits before the call, settle tokens and spend after it."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from app.catalog.specs import EndUserLimits, Limits, PlanSpec
from app.errors import (
    BudgetExceededError,
    DailyRequestLimitExceededError,
    LimitError,
    RateLimitedError,
    ServiceUnavailableError,
)
from app.gateway.snapshot import KeyRecord
from app.limits.base import CounterBackend, Hit

__all__ = ["Admission", "EndUserQuota", "Limiter", "Windows", "effective_limits", "shared_quotas"]

log = logging.getLogger("polyroute.limits")
_KINDS = ("requests", "tokens")
_SWEEP_AT = 1024


def effective_limits(key: KeyRecord) -> Limits:
    """The key's own overrides win over its plan's values."""
    plan = key.plan or PlanSpec(name="none")
    own = key.limits
    return Limits(
        daily_requests=own.daily_requests if own.daily_requests is not None else plan.daily_requests,
        rpm=own.rpm if own.rpm is not None else plan.rpm,
        tpm=own.tpm if own.tpm is not None else plan.tpm,
        monthly_budget_usd=own.monthly_budget_usd if own.monthly_budget_usd is not None else plan.monthly_budget_usd,
        daily_budget_usd=own.daily_budget_usd if own.daily_budget_usd is not None else plan.daily_budget_usd,
    )


@dataclass(frozen=True, slots=True)
class EndUserQuota:
    """One end user of one key, and what the key (else its plan) lets each end user spend."""

    subject: str
    """The counters' subject: the key id and a digest of the end user (any text, up to 200 characters)."""
    name: str
    limits: Limits

    @classmethod
    def of(cls, key: KeyRecord, end_user: str | None) -> EndUserQuota | None:
        """None when neither the key nor its plan limits end users, or the call names none."""
        own = key.end_user_limits
        if own is None or end_user is None:
            return None
        digest = hashlib.blake2b(end_user.encode(), digest_size=9).hexdigest()
        return cls(f"{key.id}~{digest}", end_user, _as_limits(own))


def _as_limits(own: EndUserLimits) -> Limits:
    return Limits(
        daily_requests=own.daily_requests,
        rpm=own.rpm,
        tpm=own.tpm,
        monthly_budget_usd=own.monthly_budget_usd,
        daily_budget_usd=own.daily_budget_usd,
    )


def shared_quotas(key: KeyRecord) -> tuple[tuple[str, Limits, str], ...]:
    """What this key shares with other keys: its user's (its plan's `user_limits`) and its team's
    limits, as (the counters' subject, the limits, whose they are in a refusal)."""
    plan, team = key.plan, key.team
    users = plan.user_limits if plan is not None and key.user_id is not None else None
    if users is None and team is None:
        return ()  # the usual key
    shared: list[tuple[str, Limits, str]] = []
    if users is not None:
        shared.append((f"user~{key.user_id}", _as_limits(users), " for this user's keys together"))
    if team is not None and team.limits != _NO_LIMITS:
        shared.append((f"team~{team.id}", _as_limits(team.limits), f" for team {team.name!r}"))
    return tuple(shared)


_NO_LIMITS = EndUserLimits()


@dataclass(slots=True)
class Admission:
    headers: dict[str, str] = field(default_factory=dict)
    limits: Limits = field(default_factory=Limits)
    end_user: EndUserQuota | None = None
    """Whose per-end-user counters this call was admitted against (its tokens and spend settle there too)."""


@dataclass(frozen=True, slots=True)
class Windows:
    """The fixed windows a moment falls in (UTC minute, day, month) and the seconds left in each."""

    minute: int
    minute_left: float
    day: str
    day_left: float
    month: str
    month_left: float

    @classmethod
    def at(cls, now: float) -> Windows:
        minute = int(now // 60)
        day, day_end, month, month_end = _calendar(int(now // 86400))
        return cls(
            minute=minute,
            minute_left=(minute + 1) * 60 - now,
            day=day,
            day_left=day_end - now,
            month=month,
            month_left=month_end - now,
        )


@functools.lru_cache(maxsize=4)
def _calendar(day_number: int) -> tuple[str, float, str, float]:
    """A UTC day's name and end, its month's name and end: datetime work done once a day, not per request."""
    moment = datetime.fromtimestamp(day_number * 86400, UTC)
    next_month = datetime(moment.year + moment.month // 12, moment.month % 12 + 1, 1, tzinfo=UTC)
    return moment.strftime("%Y%m%d"), (day_number + 1) * 86400.0, moment.strftime("%Y%m"), next_month.timestamp()


@dataclass(frozen=True, slots=True)
class _Check:
    hit: Hit
    error: type[LimitError]
    window: int
    """Which window the counter lives in: _MINUTE, _DAY or _MONTH (its reset is Retry-After)."""
    what: str
    names: tuple[str, str, str] | None
    """x-ratelimit-{limit,remaining,reset}-{requests|tokens}; None for the budget, which has no header."""


_MINUTE, _DAY, _MONTH = 0, 1, 2
_NAMES = {
    kind: (f"x-ratelimit-limit-{kind}", f"x-ratelimit-remaining-{kind}", f"x-ratelimit-reset-{kind}") for kind in _KINDS
}


@dataclass(frozen=True, slots=True)
class _KeyChecks:
    """One key record's checks for one UTC minute: built by its first request in that minute and
    reused by the rest (counter names carry the window, so a new minute, day or month means new ones)."""

    key: KeyRecord
    minute: int
    ends: tuple[float, float, float]
    """Unix time each window ends: minute, day, month."""
    limits: Limits
    checks: tuple[_Check, ...]
    hits: list[Hit]


def _counts_usage(limits: Limits) -> bool:
    """Whether tokens or spend count against these limits after a call."""
    return bool(limits.tpm or limits.monthly_budget_usd is not None or limits.daily_budget_usd is not None)


def _duration(seconds: float) -> str:
    """OpenAI's reset format: `1m30s`, `20s`."""
    seconds = max(0, int(seconds + 0.999))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _day_counter(key_id: str, w: Windows) -> str:
    return f"day:{key_id}:{w.day}"


def _checks(key_id: str, limits: Limits, w: Windows, whose: str = "") -> tuple[_Check, ...]:
    # Token and budget hits only check (the amount comes after the call, in `settle`), so no
    # check depends on the request: one set serves the key for the whole minute.
    # `key_id` is the counters' subject: a key, or one end user of a key (`whose` names them).
    checks: list[_Check] = []
    if limits.rpm is not None:
        hit = Hit(f"rpm:{key_id}:{w.minute}", limits.rpm, 1, 120)
        what = f"{limits.rpm} requests per minute{whose}"
        checks.append(_Check(hit, RateLimitedError, _MINUTE, what, _NAMES["requests"]))
    if limits.daily_requests is not None:
        hit = Hit(_day_counter(key_id, w), limits.daily_requests, 1, w.day_left + 60)
        what = f"{limits.daily_requests} requests per UTC day{whose}"
        checks.append(_Check(hit, DailyRequestLimitExceededError, _DAY, what, _NAMES["requests"]))
    if limits.tpm is not None:
        hit = Hit(f"tpm:{key_id}:{w.minute}", limits.tpm, 0, 120, check_only=True)
        what = f"{limits.tpm} tokens per minute{whose}"
        checks.append(_Check(hit, RateLimitedError, _MINUTE, what, _NAMES["tokens"]))
    if limits.monthly_budget_usd is not None:
        hit = Hit(f"spend:{key_id}:{w.month}", limits.monthly_budget_usd, 0, w.month_left + 3600, check_only=True)
        what = f"a budget of ${limits.monthly_budget_usd:g} per month{whose}"
        checks.append(_Check(hit, BudgetExceededError, _MONTH, what, None))
    if limits.daily_budget_usd is not None:
        hit = Hit(f"dspend:{key_id}:{w.day}", limits.daily_budget_usd, 0, w.day_left + 3600, check_only=True)
        what = f"a budget of ${limits.daily_budget_usd:g} per UTC day{whose}"
        checks.append(_Check(hit, BudgetExceededError, _DAY, what, None))
    return tuple(checks)


def _headers(checks: tuple[_Check, ...], values: list[float], lefts: tuple[float, float, float]) -> dict[str, str]:
    """x-ratelimit-{limit,remaining,reset}-{requests,tokens}; for requests, the tightest of RPM and the day cap."""
    headers: dict[str, str] = {}
    best: dict[tuple[str, str, str], float] = {}
    for check, value in zip(checks, values, strict=True):
        names = check.names
        if names is None:
            continue
        remaining = max(0.0, check.hit.limit - value)
        if names in best and remaining >= best[names]:
            continue
        best[names] = remaining
        headers[names[0]] = str(int(check.hit.limit))
        headers[names[1]] = str(int(remaining))
        headers[names[2]] = _duration(lefts[check.window])
    return headers


class Limiter:
    """Counters live in a backend (memory, Redis or Postgres); windows are fixed: UTC minute, day, month.

    When the backend is unreachable the policy decides: fail open (admit, warn once per outage)
    by default, or fail closed (503) with `limits_fail_closed`.
    """

    def __init__(
        self, backend: CounterBackend, *, fail_closed: bool = False, clock: Callable[[], float] = time.time
    ) -> None:
        self.backend = backend
        self.fail_closed = fail_closed
        self._clock = clock
        self.degraded = False
        """True while the backend is unreachable."""
        self._pending: set[asyncio.Task[None]] = set()
        self._by_key: dict[str, _KeyChecks] = {}
        self._sweep_at = _SWEEP_AT

    async def admit(self, key: KeyRecord, end_user: str | None = None) -> Admission:
        """Count the request against the key's windows (and its end user's, when the plan limits
        end users) or raise the limit it hit; every window is checked and added in one step.

        Tokens and spend admit while under their limit and are added once known (`settle`), so a
        long prompt is never refused on a guess of its size.
        """
        now = self._clock()
        found = self._by_key.get(key.id)
        if found is None or found.key is not key or found.minute != int(now // 60):
            found = self._build(key, now)
        checks, hits = found.checks, found.hits
        quota = EndUserQuota.of(key, end_user) if end_user is not None else None
        if quota is not None:
            whose = f" for end user {quota.name[:64]!r}"
            extra = _checks(quota.subject, quota.limits, Windows.at(now), whose)
            checks, hits = checks + extra, hits + [c.hit for c in extra]
        if not checks:
            return Admission(limits=found.limits)
        try:
            verdict, values = await self.backend.hit(hits)
        except (ConnectionError, OSError, TimeoutError) as exc:
            return self._backend_down(exc, found.limits)
        if self.degraded:
            log.warning("rate-limit store reachable again: limits enforced")
            self.degraded = False
        minute_end, day_end, month_end = found.ends
        lefts = (minute_end - now, day_end - now, month_end - now)
        headers = _headers(checks, values, lefts)
        if not verdict.allowed and verdict.refused_index is not None:
            check = checks[verdict.refused_index]
            raise check.error(f"Limit reached: {check.what}", retry_after=lefts[check.window], headers=headers)
        return Admission(headers=headers, limits=found.limits, end_user=quota)

    def _build(self, key: KeyRecord, now: float) -> _KeyChecks:
        limits = effective_limits(key)
        w = Windows.at(now)
        checks = _checks(key.id, limits, w)  # none at all for a key without limits
        for subject, shared, whose in shared_quotas(key):  # static per minute too: the key's cached checks carry them
            checks += _checks(subject, shared, w, whose)
        ends = (now + w.minute_left, now + w.day_left, now + w.month_left)
        built = _KeyChecks(key, w.minute, ends, limits, checks, [c.hit for c in checks])
        if len(self._by_key) >= self._sweep_at:
            # Only this minute's entries can be reused: the cache holds the keys active now, not every
            # key ever seen. The next sweep waits for twice as many, so sweeping stays O(1) per build.
            self._by_key = {k: v for k, v in self._by_key.items() if v.minute == w.minute}
            self._sweep_at = max(_SWEEP_AT, 2 * len(self._by_key))
        self._by_key[key.id] = built
        return built

    async def out_of_budget(self, key: KeyRecord, end_user: EndUserQuota | None = None) -> LimitError | None:
        """Whether a budget the key spends against (its own, its user's, its team's, its end user's) is spent
        now, counting nothing: for work that goes on after admission (a Realtime session). None when the
        store cannot say (the admission's policy already applied)."""
        now = self._clock()
        w = Windows.at(now)
        found = self._by_key.get(key.id)
        checks = found.checks if found is not None and found.key is key and found.minute == w.minute else None
        if checks is None:
            checks = self._build(key, now).checks
        if end_user is not None:
            checks = checks + _checks(end_user.subject, end_user.limits, w, "")
        budgets = [c for c in checks if c.error is BudgetExceededError]
        if not budgets:
            return None
        try:
            verdict, _ = await self.backend.hit([c.hit for c in budgets])
        except (ConnectionError, OSError, TimeoutError):
            return None
        if verdict.allowed or verdict.refused_index is None:
            return None
        check = budgets[verdict.refused_index]
        left = w.month_left if check.window == _MONTH else w.day_left
        return check.error(f"Limit reached: {check.what}", retry_after=left)

    async def requests_today(self, key_id: str) -> int:
        """Requests this key was admitted for in the current UTC day: the counter the daily cap checks."""
        return int(await self.backend.get(_day_counter(key_id, Windows.at(self._clock()))))

    def _backend_down(self, exc: Exception, limits: Limits) -> Admission:
        first = not self.degraded
        self.degraded = True
        if self.fail_closed:
            if first:
                log.error("rate-limit store unreachable (%s): refusing requests (fail-closed)", exc)
            raise ServiceUnavailableError(
                "Rate-limit store unreachable and the policy is fail-closed", headers={"Retry-After": "1"}
            ) from exc
        if first:
            log.warning("rate-limit store unreachable (%s): admitting without limits (fail-open)", exc)
        return Admission(limits=limits)

    async def settle(
        self, key: KeyRecord, limits: Limits, tokens: int, cost: float, end_user: EndUserQuota | None = None
    ) -> None:
        """After the call: count its real tokens and spend against the windows (the end user's too)."""
        w = Windows.at(self._clock())
        subjects = [(key.id, limits)]
        if end_user is not None:
            subjects.append((end_user.subject, end_user.limits))
        subjects.extend((subject, shared) for subject, shared, _ in shared_quotas(key))
        try:
            for subject, own in subjects:
                if own.tpm and tokens:
                    await self.backend.add(f"tpm:{subject}:{w.minute}", tokens, 120)
                if own.monthly_budget_usd is not None and cost:
                    await self.backend.add(f"spend:{subject}:{w.month}", cost, w.month_left + 3600)
                if own.daily_budget_usd is not None and cost:
                    await self.backend.add(f"dspend:{subject}:{w.day}", cost, w.day_left + 3600)
        except (ConnectionError, OSError, TimeoutError) as exc:
            log.warning("could not record usage against limits: %s", exc)

    def settle_soon(
        self, key: KeyRecord, limits: Limits, tokens: int, cost: float, end_user: EndUserQuota | None = None
    ) -> None:
        """`settle` in the background, after the response has gone; `close` waits for it."""
        if (
            not _counts_usage(limits)
            and (end_user is None or not _counts_usage(end_user.limits))
            and not any(_counts_usage(shared) for _, shared, _ in shared_quotas(key))
        ):
            return
        task = asyncio.get_running_loop().create_task(self.settle(key, limits, tokens, cost, end_user))
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def close(self, timeout_s: float = 5.0) -> None:
        """At shutdown: let pending settles count their tokens and spend, then close the backend's connections."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=timeout_s)
        await self.backend.close()
