"""The read side on real SQLite and Postgres: aggregates, filters, scopes, the request log, dashboard series."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.accounting.backfill import backfill_daily
from app.accounting.queries import UsageFilter, decode_cursor, request_log, series, usage_summary
from app.db.tables import UsageDailyRow
from app.errors import InvalidRequestError
from tests.unit.accounting.conftest import event, store

DAY = datetime(2026, 3, 2, tzinfo=UTC).timestamp()


def traffic() -> list:  # type: ignore[type-arg]
    """Two days, two keys, two models, one provider outage."""
    out = []
    for day in (0, 1):
        for i in range(10):
            ts = DAY + day * 86400 + i * 600
            out.append(event(ts=ts, key_id="key_a", model="m1", latency_ms=100 + i, cost_usd=0.01))
            out.append(event(ts=ts, key_id="key_b", plan="pro", model="m2", provider="anthropic", latency_ms=1000))
        failed = {"status": 502, "error_code": "PROVIDER_ERROR", "plan": "pro", "model": "m2"}
        out.append(event(ts=DAY + day * 86400, key_id="key_b", **failed))
    return out


async def test_totals_and_groups(db: str, tmp_path: Path) -> None:
    await store(tmp_path, traffic())
    (total,) = await usage_summary(UsageFilter())
    assert (total.requests, total.errors) == (42, 2)
    assert total.total_tokens == 42 * 15
    assert total.cost_usd == pytest.approx(20 * 0.01 + 22 * 0.0001)
    by_day = await usage_summary(UsageFilter(), ["day"])
    assert [(g.day, g.requests) for g in by_day] == [("2026-03-02", 21), ("2026-03-03", 21)]
    by_key_model = await usage_summary(UsageFilter(), ["key", "model"])
    assert [(g.key_id, g.model, g.requests) for g in by_key_model] == [("key_a", "m1", 20), ("key_b", "m2", 22)]
    by_hour = await usage_summary(UsageFilter(key_id="key_a"), ["hour"])
    assert by_hour[0].hour == datetime(2026, 3, 2, 0, tzinfo=UTC) and by_hour[0].requests == 6
    slow = (await usage_summary(UsageFilter(model="m2", status=(200, 400))))[0]
    assert slow.requests == 20 and 750 <= (slow.latency_ms_p50 or 0) <= 1000


async def test_filters_and_scope(db: str, tmp_path: Path) -> None:
    await store(tmp_path, traffic())
    errors = await usage_summary(UsageFilter(status=(400, 600)), ["provider", "status"])
    assert [(g.provider, g.status, g.requests) for g in errors] == [("openai", 502, 2)]
    assert (await usage_summary(UsageFilter(plan="pro")))[0].requests == 22
    assert (await usage_summary(UsageFilter(provider="anthropic")))[0].requests == 20
    second_day = UsageFilter(start=datetime.fromtimestamp(DAY + 86400, UTC))
    assert (await usage_summary(second_day))[0].requests == 21
    first_day = UsageFilter(end=datetime.fromtimestamp(DAY + 86400, UTC))
    assert (await usage_summary(first_day))[0].requests == 21
    assert (await usage_summary(UsageFilter(scope=frozenset({"key_a"}))))[0].requests == 20
    assert await usage_summary(UsageFilter(scope=frozenset())) == []
    assert await usage_summary(UsageFilter(key_id="key_zzz")) == []
    with pytest.raises(InvalidRequestError):
        await usage_summary(UsageFilter(), ["colour"])


async def test_request_log_pages_by_offset_and_by_cursor(db: str, tmp_path: Path) -> None:
    events = traffic()
    await store(tmp_path, events)
    seen: list[str] = []
    cursor = None
    while True:
        page = await request_log(UsageFilter(), limit=10, cursor=cursor)
        seen += [r.id for r in page.data]
        cursor = page.next_cursor
        if cursor is None:
            break
    newest_first = sorted(events, key=lambda e: (e.ts, e.id), reverse=True)
    assert seen == [e.id for e in newest_first]
    by_offset = await request_log(UsageFilter(), limit=10, offset=10)
    assert [r.id for r in by_offset.data] == seen[10:20]
    failed = (await request_log(UsageFilter(status=(500, 600)))).data
    assert {r.error_code for r in failed} == {"PROVIDER_ERROR"} and len(failed) == 2
    first = failed[0]
    assert first.attempts == [{"provider": "openai", "model": "gpt-4.1-mini", "outcome": "ok", "status": 200}]
    assert first.attempt_count == 1 and first.ts.tzinfo is not None
    scoped = await request_log(UsageFilter(scope=frozenset({"key_a"})), limit=500)
    assert {r.key_id for r in scoped.data} == {"key_a"} and len(scoped.data) == 20
    with pytest.raises(InvalidRequestError):
        decode_cursor("not-a-cursor")
    nul = base64.urlsafe_b64encode(b"1700000000000000|req_\x00x").decode()  # Postgres text cannot hold NUL
    with pytest.raises(InvalidRequestError):
        decode_cursor(nul)
    # The crafted cursor is a 400 through the query as well, on both backends, never a driver error.
    with pytest.raises(InvalidRequestError):
        await request_log(UsageFilter(), limit=5, cursor=nul)


async def test_series_zero_fills_and_breaks_down(db: str, tmp_path: Path) -> None:
    now = DAY + 86400 + 5400  # 01:30 on the second day
    await store(tmp_path, traffic())
    day = await series("day", "model", now=now)
    assert day.bucket_s == 3600 and len({p.ts for p in day.points}) == 24
    assert {p.group for p in day.points} == {"m1", "m2"}
    m1 = [p for p in day.points if p.group == "m1"]
    assert len(m1) == 24 and sum(p.requests for p in m1) == 10  # 00:00 .. 01:30 of the second day
    hour = await series("hour", now=now)
    assert hour.bucket_s == 300 and len(hour.points) == 12
    assert sum(p.requests for p in hour.points) == 12  # 00:35 .. 01:35 of the second day: 2 keys x 6
    busy = [p for p in hour.points if p.requests]
    assert all(p.latency_ms_p50 is not None and p.error_rate == 0 for p in busy)
    week = await series("week", "provider", now=now)
    assert sum(p.requests for p in week.points) == 42
    outage = [p for p in week.points if p.errors]
    assert [p.group for p in outage] == ["openai", "openai"]
    assert outage[0].requests == 11 and outage[0].error_rate == round(1 / 11, 4)  # 10 ok on openai, 1 failure
    assert (await series("hour", f=UsageFilter(scope=frozenset()), now=now)).points[0].requests == 0
    with pytest.raises(InvalidRequestError):
        await series("year", now=now)  # type: ignore[arg-type]


async def test_daily_and_hourly_rollups_agree(db: str, tmp_path: Path) -> None:
    """Midnight bounds read the daily rollup, other bounds the hourly one: the same answers."""
    await store(tmp_path, traffic())
    day_start = datetime.fromtimestamp(DAY, UTC)
    for start in (None, day_start, datetime.fromtimestamp(DAY + 1, UTC)):  # the last one forces hourly
        for group_by in ([], ["day"], ["model", "status"], ["key", "plan", "provider"]):
            got = await usage_summary(UsageFilter(start=start), group_by)
            hourly = await usage_summary(UsageFilter(start=start), [*group_by, "hour"])
            assert sum(g.requests for g in got) == sum(g.requests for g in hourly) == 42
            assert sum(g.cost_usd for g in got) == pytest.approx(sum(g.cost_usd for g in hourly))
    one_day = await usage_summary(UsageFilter(start=day_start, end=datetime.fromtimestamp(DAY + 86400, UTC)))
    assert one_day[0].requests == 21 and one_day[0].latency_ms_p95 is not None


async def test_the_rollup_job_folds_days_that_only_have_hourly_rows(db: str, tmp_path: Path) -> None:
    await store(tmp_path, traffic())
    expected = await usage_summary(UsageFilter(), ["day", "model", "status"])
    await UsageDailyRow.delete(force=True).run()  # as after an import of hourly rows alone
    assert await usage_summary(UsageFilter(), ["day"]) == []
    assert await backfill_daily(now=DAY + 3 * 86400) == 2
    assert await usage_summary(UsageFilter(), ["day", "model", "status"]) == expected
    assert await backfill_daily(now=DAY + 3 * 86400) == 0  # each day once
    await store(tmp_path, [event(ts=DAY + 60)])  # the writer keeps daily rows in step afterwards
    assert sum(g.requests for g in await usage_summary(UsageFilter(), ["day"])) == 43
