"""The writer against real SQLite and Postgres: rows, rollups, last_used_at, spool-and-replay, idempotence."""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec
import pytest

from app.accounting.queue import UsageQueue
from app.accounting.writer import UsageWriter
from app.db.engine import use_database
from app.db.tables import ApiKeyRow, UsageDailyRow, UsageEventRow, UsageHourlyRow
from tests.fakes.server import free_port
from tests.unit.accounting.conftest import event
from tests.unit.accounting.test_spool import dead_pid


def writer(tmp_path: Path, batch_size: int = 500) -> UsageWriter:
    return UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"), batch_size)


async def totals() -> dict[str, Any]:
    hourly = await UsageHourlyRow.select(UsageHourlyRow.requests, UsageHourlyRow.cost_usd).run()
    daily = await UsageDailyRow.select(UsageDailyRow.requests).run()
    return {
        "events": await UsageEventRow.count().run(),
        "hourly": sum(r["requests"] for r in hourly),
        "daily": sum(r["requests"] for r in daily),
        "cost": round(sum(r["cost_usd"] for r in hourly), 9),
    }


async def add_key(key_id: str) -> None:
    stamp = datetime.now(UTC)
    row = ApiKeyRow(id=key_id, name=key_id, prefix="sk-poly-x", key_hash=key_id.ljust(64, "0"))
    row.created_at = row.updated_at = stamp
    await ApiKeyRow.insert(row).run()


async def test_flush_writes_rows_rollups_and_last_used(db: str, tmp_path: Path) -> None:
    await add_key("key_a")
    w = writer(tmp_path, batch_size=7)  # several batches
    stamps = [1_800_000_000.0 + i for i in range(20)]
    for ts in stamps:
        w.queue.put(event(ts=ts, cost_usd=0.5))
    # The queue's high-water mark (7) has already started a flush of its own; either may write them.
    await w.flush()
    assert w.written == 20
    assert await totals() == {"events": 20, "hourly": 20, "daily": 20, "cost": 10.0}
    used = await ApiKeyRow.select(ApiKeyRow.last_used_at).where(ApiKeyRow.id == "key_a").first().run()
    assert used["last_used_at"] == datetime.fromtimestamp(max(stamps), UTC)
    w.queue.put(event(ts=stamps[0] - 100))  # an older event never moves last_used_at back
    await w.flush()
    again = await ApiKeyRow.select(ApiKeyRow.last_used_at).where(ApiKeyRow.id == "key_a").first().run()
    assert again == used
    assert list(tmp_path.iterdir()) == []  # every segment deleted once committed


async def test_a_segment_written_twice_counts_once(db: str, tmp_path: Path) -> None:
    """A crash between the commit and the segment's deletion replays it: rows and rollups stay exact."""
    events = [event() for _ in range(30)]
    first = writer(tmp_path)
    for e in events:
        first.queue.put(e)
    await first.flush()
    left = tmp_path / f"usage-spool-{dead_pid()}.jsonl.1"
    left.write_bytes(b"".join(msgspec.json.encode(e) + b"\n" for e in events[:10]))
    second = writer(tmp_path)
    second.queue.put(event())
    assert await second.flush() == 1
    assert (await totals())["events"] == 31
    assert (await totals())["hourly"] == 31
    assert not left.exists()


@pytest.mark.filterwarnings("ignore:.*Unable to:Warning")  # piccolo warns about the refused connection
async def test_database_down_spools_then_replays_everything(db: str, tmp_path: Path) -> None:
    w = writer(tmp_path)
    use_database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")  # connection refused
    for _ in range(25):
        w.queue.put(event())
    assert await w.flush() == 0
    assert w.db_failing
    assert len(w.queue) == 0 and w.pending == 25
    assert len(list(tmp_path.glob("usage-spool-*"))) == 1
    for _ in range(5):
        w.queue.put(event())
    await w.journal()  # the journal job keeps moving events to disk while the database is down
    assert len(list(tmp_path.glob("usage-spool-*"))) == 2
    use_database(db)
    assert await w.flush() == 30
    assert not w.db_failing and w.pending == 0
    assert (await totals())["events"] == 30
    assert list(tmp_path.glob("usage-spool-*")) == []


@pytest.mark.filterwarnings("ignore:.*Unable to:Warning")
async def test_a_backlog_beyond_the_memory_bound_waits_on_disk(db: str, tmp_path: Path) -> None:
    """While the database is down, journaled events past `in_memory` are dropped from memory and
    read back from their segments once it answers: the backlog costs disk, not RSS."""
    w = UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"), batch_size=8, in_memory=10)
    use_database(f"postgresql://postgres@127.0.0.1:{free_port()}/nowhere")
    for run in range(6):
        for _ in range(7):
            w.queue.put(event())
        await w.journal()
        assert w.pending == 7 * (run + 1)  # the gauge counts what is on disk too
    assert w.held == 14  # two segments of 7 reached the bound; the other four wait on disk only
    assert len(list(tmp_path.glob("usage-spool-*"))) == 6
    use_database(db)
    assert await w.flush() == 42
    assert w.pending == 0 and w.held == 0
    assert await totals() == {"events": 42, "hourly": 42, "daily": 42, "cost": round(42 * event().cost_usd, 9)}
    assert list(tmp_path.glob("usage-spool-*")) == []


async def test_a_full_queue_starts_a_flush_without_waiting_for_the_timer(db: str, tmp_path: Path) -> None:
    w = writer(tmp_path, batch_size=10)
    for _ in range(10):
        w.queue.put(event())
    for _ in range(100):
        if await UsageEventRow.count().run() == 10:
            break
        await asyncio.sleep(0.02)
    assert await UsageEventRow.count().run() == 10


@pytest.mark.parametrize("detail", [None, {"attempts": [], "error": "x" * 500}])
async def test_rows_hold_ids_and_numbers_only(db: str, tmp_path: Path, detail: dict[str, Any] | None) -> None:
    w = writer(tmp_path)
    w.queue.put(event(detail=detail, ttft_ms=12.5, stream=True, usage={"prompt_tokens": 3, "estimated": True}))
    await w.flush()
    row = await UsageEventRow.select().first().run()
    assert row["stream"] is True and row["estimated"] is True and row["ttft_ms"] == 12.5
    assert row["model"] == "gpt-4.1-mini" and row["provider"] == "openai"
    stored = row["detail"]
    if detail is None:
        assert stored is None
    else:
        assert msgspec.json.decode(stored) == detail
