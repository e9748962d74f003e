"""Usage by end user and by tag, read from the request log on real SQLite and Postgres."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import msgspec
import pytest

from app.accounting import retention
from app.accounting.queries import UsageFilter, _group, request_by_id, request_log, series, usage_summary
from app.accounting.raw_usage import raw_summary_rows
from app.db.tables import UsageTagRow
from app.errors import InvalidRequestError
from tests.unit.accounting.conftest import event, store

DAY = datetime(2026, 3, 2, tzinfo=UTC).timestamp()


def traffic() -> list:  # type: ignore[type-arg]
    """Alice on two tags, bob on one, three unattributed calls (one failed, one estimated)."""
    return [
        event(ts=DAY + 10, end_user="alice", tags=("team:search", "env=prod"), cost_usd=0.5, latency_ms=40),
        event(ts=DAY + 20, end_user="alice", tags=("team:search",), cost_usd=0.25, latency_ms=90, ttft_ms=12.0),
        event(ts=DAY + 30, end_user="bob", tags=("env=prod",), cost_usd=0.125, latency_ms=3000, model="m2"),
        event(ts=DAY + 40, cost_usd=0.0625, latency_ms=7),
        event(ts=DAY + 86400 + 50, status=502, error_code="PROVIDER_ERROR", cost_usd=0.0, latency_ms=25000),
        event(ts=DAY + 86400 + 60, usage={"prompt_tokens": 3, "estimated": True}, latency_ms=70000),
    ]


async def test_groups_by_end_user_and_tag(db: str, tmp_path: Path) -> None:
    await store(tmp_path, traffic())
    users = {g.end_user: (g.requests, g.cost_usd) for g in await usage_summary(UsageFilter(), ["end_user"])}
    assert users["alice"] == (2, 0.75) and users["bob"] == (1, 0.125)
    assert users[None][0] == 3  # the unattributed ones are a group of their own
    tags = {g.tag: g.requests for g in await usage_summary(UsageFilter(), ["tag"])}
    assert tags == {"team:search": 2, "env=prod": 2, None: 3}  # a request counts under each of its tags
    assert [(g.end_user, g.requests) for g in await usage_summary(UsageFilter(tag="env=prod"), ["end_user"])] == [
        ("alice", 1),
        ("bob", 1),
    ]
    (alice,) = await usage_summary(UsageFilter(end_user="alice"))
    assert (alice.requests, alice.ttft_ms_avg, alice.latency_ms_avg) == (2, 12.0, 65.0)
    assert await usage_summary(UsageFilter(end_user="nobody")) == []
    by_day = await usage_summary(UsageFilter(), ["day", "end_user"])
    assert [(g.day, g.end_user, g.requests) for g in by_day if g.end_user] == [
        ("2026-03-02", "alice", 2),
        ("2026-03-02", "bob", 1),
    ]
    hours = {(g.hour, g.tag) for g in await usage_summary(UsageFilter(tag="team:search"), ["hour", "tag"])}
    assert hours == {(datetime.fromtimestamp(DAY, UTC), "team:search"), (datetime.fromtimestamp(DAY, UTC), "env=prod")}
    scoped = await usage_summary(UsageFilter(scope=frozenset({"key_other"})), ["end_user"])
    assert scoped == []


async def test_the_request_log_reads_the_same_measures_as_the_rollups(db: str, tmp_path: Path) -> None:
    """Every measure, the latency histogram's p50/p95 included, whichever table answers."""
    await store(tmp_path, traffic())
    for group_by in ([], ["model", "status"], ["day"], ["key", "plan", "provider"]):
        from_rollups = await usage_summary(UsageFilter(), group_by)
        raw = await raw_summary_rows(UsageFilter(), group_by)
        from_log = [_group(r, group_by) for r in raw]
        assert msgspec.to_builtins(from_log) == msgspec.to_builtins(from_rollups), group_by


async def test_request_log_filters_and_shows_attribution(db: str, tmp_path: Path) -> None:
    events = traffic()
    await store(tmp_path, events)
    page = await request_log(UsageFilter(tag="env=prod"))
    assert [(r.end_user, r.tags) for r in page.data] == [("bob", ["env=prod"]), ("alice", ["team:search", "env=prod"])]
    assert [r.id for r in (await request_log(UsageFilter(end_user="alice", tag="env=prod"))).data] == [events[0].id]
    untagged = await request_by_id(events[3].id)
    assert untagged is not None and (untagged.end_user, untagged.tags) == (None, [])


async def test_retention_takes_the_tags_with_the_rows(db: str, tmp_path: Path) -> None:
    now = DAY + 200 * 86400
    old = [event(ts=DAY + i, tags=("old", f"n{i}")) for i in range(5)]
    recent = event(ts=now - 60, tags=("new",))
    await store(tmp_path, [*old, recent])
    assert await UsageTagRow.count().run() == 11
    assert await retention.prune(90, now=now) == 5
    assert [r["tag"] for r in await UsageTagRow.select(UsageTagRow.tag).run()] == ["new"]


async def test_unknown_group_names_are_refused(db: str) -> None:
    with pytest.raises(InvalidRequestError, match="nope"):
        await usage_summary(UsageFilter(), ["end_user", "nope"])


async def test_series_by_end_user_or_tag_read_the_request_log(db: str, tmp_path: Path) -> None:
    await store(tmp_path, traffic())
    now = DAY + 86400 + 3600  # 01:00 on the second day
    week = await series("week", "model", f=UsageFilter(end_user="alice"), now=now)
    assert sum(p.requests for p in week.points) == 2 and {p.group for p in week.points} == {"gpt-4.1-mini"}
    tagged = await series("month", f=UsageFilter(tag="env=prod"), now=now)
    assert sum(p.requests for p in tagged.points) == 2 and sum(p.cost_usd for p in tagged.points) == 0.625
    assert sum(p.requests for p in (await series("month", now=now)).points) == 6  # the rollups, unfiltered
