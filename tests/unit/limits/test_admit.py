"""The limiter with an injected clock: each limit, its window reset, headers, overrides, outage policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.catalog.specs import Limits, PlanSpec
from app.errors import (
    BudgetExceededError,
    DailyRequestLimitExceededError,
    LimitError,
    RateLimitedError,
    ServiceUnavailableError,
)
from app.gateway.snapshot import KeyRecord
from app.limits import admit as admit_module
from app.limits.admit import Limiter, effective_limits
from app.limits.base import CounterStoreUnavailableError, Hit, Verdict
from app.limits.memory import MemoryCounters


class Clock:
    def __init__(self, moment: datetime) -> None:
        self.now = moment.timestamp()

    def __call__(self) -> float:
        return self.now

    def at(self, moment: datetime) -> None:
        self.now = moment.timestamp()


def key(plan: PlanSpec | None = None, **overrides: float) -> KeyRecord:
    return KeyRecord("key_1", "k", "sk-poly", plan, None, Limits(**overrides), None)  # type: ignore[arg-type]


def limiter(moment: datetime) -> tuple[Limiter, Clock]:
    clock = Clock(moment)
    return Limiter(MemoryCounters(clock), clock=clock), clock


async def refused(lim: Limiter, k: KeyRecord) -> LimitError:
    with pytest.raises(LimitError) as caught:
        await lim.admit(k)
    return caught.value


async def test_rpm_refuses_until_the_minute_turns() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC))
    k = key(PlanSpec(name="p", rpm=3))
    remaining = [(await lim.admit(k)).headers["x-ratelimit-remaining-requests"] for _ in range(3)]
    assert remaining == ["2", "1", "0"]
    error = await refused(lim, k)
    assert isinstance(error, RateLimitedError)
    assert error.retry_after == 45
    assert error.headers["Retry-After"] == "45"
    assert error.headers["x-ratelimit-reset-requests"] == "45s"
    clock.at(datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC))
    assert (await lim.admit(k)).headers["x-ratelimit-remaining-requests"] == "2"


async def test_reset_counts_down_within_the_minute() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC))
    k = key(PlanSpec(name="p", rpm=100))
    assert (await lim.admit(k)).headers["x-ratelimit-reset-requests"] == "45s"
    clock.at(datetime(2026, 3, 1, 12, 0, 50, tzinfo=UTC))  # same minute: the key's checks are reused
    assert (await lim.admit(k)).headers["x-ratelimit-reset-requests"] == "10s"


async def test_a_changed_plan_applies_to_the_next_request() -> None:
    lim, _ = limiter(datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC))
    await lim.admit(key(PlanSpec(name="p", rpm=1)))
    await refused(lim, key(PlanSpec(name="p", rpm=1)))  # a new record with the same limits: still counted
    raised = key(PlanSpec(name="p", rpm=5))  # the catalog reloaded with a bigger plan, same key id
    assert (await lim.admit(raised)).headers["x-ratelimit-remaining-requests"] == "3"
    unlimited = key(PlanSpec(name="p"))
    assert (await lim.admit(unlimited)).headers == {}


async def test_the_cache_of_key_checks_keeps_only_the_keys_active_this_minute(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(admit_module, "_SWEEP_AT", 4)
    lim, clock = limiter(datetime(2026, 3, 1, 12, 0, 15, tzinfo=UTC))
    plan = PlanSpec(name="p", rpm=100)
    for n in range(4):
        await lim.admit(KeyRecord(f"key_{n}", "k", "sk-poly", plan, None, Limits(), None))
    clock.at(datetime(2026, 3, 1, 12, 1, 0, tzinfo=UTC))
    for n in range(2):  # a new minute: the first build past the threshold drops last minute's entries
        await lim.admit(KeyRecord(f"key_new_{n}", "k", "sk-poly", plan, None, Limits(), None))
    assert sorted(lim._by_key) == ["key_new_0", "key_new_1"]


async def test_daily_cap_resets_at_utc_midnight() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC))
    k = key(PlanSpec(name="p", daily_requests=2))
    await lim.admit(k)
    headers = (await lim.admit(k)).headers
    assert headers == {
        "x-ratelimit-limit-requests": "2",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "30s",
    }
    error = await refused(lim, k)
    assert isinstance(error, DailyRequestLimitExceededError)
    assert error.code == "DAILY_REQUEST_LIMIT_EXCEEDED" and error.retry_after == 30
    clock.at(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))
    await lim.admit(k)
    await lim.admit(k)
    await refused(lim, k)


async def test_requests_today_reads_the_counter_the_cap_enforces() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 23, 59, 30, tzinfo=UTC))
    k = key(PlanSpec(name="p", daily_requests=5))
    assert await lim.requests_today(k.id) == 0
    for _ in range(3):
        await lim.admit(k)
    assert await lim.requests_today(k.id) == 3
    assert await lim.requests_today("key_other") == 0
    clock.at(datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC))  # a new UTC day
    assert await lim.requests_today(k.id) == 0


async def test_request_headers_report_the_tighter_of_rpm_and_the_day_cap() -> None:
    lim, _ = limiter(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    k = key(PlanSpec(name="p", rpm=10, daily_requests=3))
    headers = (await lim.admit(k)).headers
    assert headers["x-ratelimit-limit-requests"] == "3"
    assert headers["x-ratelimit-remaining-requests"] == "2"
    assert headers["x-ratelimit-reset-requests"] == "14h0m0s"
    k = key(PlanSpec(name="p", rpm=2, daily_requests=100))
    lim, _ = limiter(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    assert (await lim.admit(k)).headers["x-ratelimit-limit-requests"] == "2"


async def test_a_refusal_consumes_no_other_window() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    k = key(PlanSpec(name="p", rpm=1, daily_requests=5))
    await lim.admit(k)
    for _ in range(10):
        assert isinstance(await refused(lim, k), RateLimitedError)
    clock.at(datetime(2026, 3, 1, 10, 1, 0, tzinfo=UTC))
    assert (await lim.admit(k)).headers["x-ratelimit-remaining-requests"] == "0"  # rpm 1: 0 left this minute
    assert await lim.backend.get("day:key_1:20260301") == 2


async def test_tpm_counts_settled_tokens_until_the_minute_turns() -> None:
    lim, clock = limiter(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    k = key(PlanSpec(name="p", tpm=1000))
    admission = await lim.admit(k)
    assert admission.headers["x-ratelimit-remaining-tokens"] == "1000"
    await lim.settle(k, admission.limits, 600, 0.0)
    assert (await lim.admit(k)).headers["x-ratelimit-remaining-tokens"] == "400"
    await lim.settle(k, admission.limits, 400, 0.0)
    error = await refused(lim, k)
    assert isinstance(error, RateLimitedError) and "tokens per minute" in error.detail
    assert error.headers["x-ratelimit-remaining-tokens"] == "0"
    clock.at(datetime(2026, 3, 1, 10, 1, 0, tzinfo=UTC))
    await lim.admit(k)


async def test_budget_refuses_once_spent_and_resets_next_month() -> None:
    lim, clock = limiter(datetime(2026, 12, 31, 23, 0, 0, tzinfo=UTC))
    k = key(PlanSpec(name="p", monthly_budget_usd=0.01))
    admission = await lim.admit(k)
    await lim.settle(k, admission.limits, 100, 0.006)
    await lim.admit(k)  # 0.006 < 0.01: still admitted
    await lim.settle(k, admission.limits, 100, 0.004)
    error = await refused(lim, k)
    assert isinstance(error, BudgetExceededError)
    assert error.retry_after == 3600  # the month (and the year) ends in an hour
    clock.at(datetime(2027, 1, 1, 0, 0, 0, tzinfo=UTC))
    await lim.admit(k)


async def test_key_overrides_win_over_the_plan() -> None:
    plan = PlanSpec(name="p", rpm=100, daily_requests=1000, tpm=5, monthly_budget_usd=1.0)
    limits = effective_limits(key(plan, rpm=2, monthly_budget_usd=0.5))
    assert (limits.rpm, limits.daily_requests, limits.tpm, limits.monthly_budget_usd) == (2, 1000, 5, 0.5)
    lim, _ = limiter(datetime(2026, 3, 1, 10, 0, 0, tzinfo=UTC))
    k = key(plan, rpm=2)
    await lim.admit(k)
    await lim.admit(k)
    assert isinstance(await refused(lim, k), RateLimitedError)


async def test_unlimited_keys_never_touch_the_backend() -> None:
    lim = Limiter(Broken())
    admission = await lim.admit(key(PlanSpec(name="open")))
    assert admission.headers == {}


class Broken:
    """A counter store that is down until `up` is set."""

    def __init__(self) -> None:
        self.up = False
        self.memory = MemoryCounters()

    async def hit(self, hits: list[Hit]) -> tuple[Verdict, list[float]]:
        if not self.up:
            raise CounterStoreUnavailableError("down")
        return await self.memory.hit(hits)

    async def add(self, key: str, amount: float, ttl_s: float) -> float:
        if not self.up:
            raise CounterStoreUnavailableError("down")
        return await self.memory.add(key, amount, ttl_s)

    async def get(self, key: str) -> float:
        return await self.memory.get(key)

    async def close(self) -> None:
        return None


async def test_fail_open_admits_without_limits_and_recovers(caplog: pytest.LogCaptureFixture) -> None:
    store = Broken()
    lim = Limiter(store)
    k = key(PlanSpec(name="p", daily_requests=1))
    for _ in range(3):
        assert (await lim.admit(k)).headers == {}
    assert lim.degraded
    assert sum("fail-open" in r.message for r in caplog.records) == 1  # one warning per outage
    await lim.settle(k, Limits(monthly_budget_usd=1), 10, 0.5)  # logged, not raised
    store.up = True
    assert (await lim.admit(k)).headers["x-ratelimit-remaining-requests"] == "0"
    assert not lim.degraded
    assert isinstance(await refused(lim, k), DailyRequestLimitExceededError)


async def test_fail_closed_refuses_with_503_and_recovers() -> None:
    store = Broken()
    lim = Limiter(store, fail_closed=True)
    k = key(PlanSpec(name="p", rpm=10))
    with pytest.raises(ServiceUnavailableError) as caught:
        await lim.admit(k)
    assert caught.value.status_code == 503 and caught.value.headers["Retry-After"] == "1"
    store.up = True
    await lim.admit(k)
