"""Retention drops old request-log rows in chunks, keeps the rollups, and clears expired limit counters."""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from app.accounting import retention
from app.accounting.queries import UsageFilter, usage_summary
from app.accounting.queue import UsageQueue
from app.accounting.writer import UsageWriter
from app.db.tables import AlertRow, AuditRow, LimitCounterRow, UsageEventRow
from tests.unit.accounting.conftest import event

NOW = 1_800_000_000.0


async def test_old_rows_go_rollups_stay(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(retention, "_CHUNK", 7)  # several chunks
    w = UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"))
    old = [event(ts=NOW - 91 * 86400 - i) for i in range(20)]
    recent = [event(ts=NOW - 89 * 86400), event(ts=NOW - 60)]
    for e in old + recent:
        w.queue.put(e)
    await w.flush()
    now = datetime.fromtimestamp(NOW, UTC)
    for name, expires in (("old", now - timedelta(hours=2)), ("live", now + timedelta(minutes=1))):
        await LimitCounterRow.insert(LimitCounterRow(key=name, value=1.0, expires_at=expires)).run()
    assert await retention.prune(90, now=NOW) == 20
    left = await UsageEventRow.select(UsageEventRow.id).run()
    assert sorted(r["id"] for r in left) == sorted(e.id for e in recent)
    assert (await usage_summary(UsageFilter()))[0].requests == 22  # rollups keep the history
    assert [r["key"] for r in await LimitCounterRow.select(LimitCounterRow.key).run()] == ["live"]
    assert await retention.prune(0, now=NOW) == 0  # 0 keeps raw rows forever
    assert await UsageEventRow.count().run() == 2


async def test_audit_and_alert_rows_go_after_their_own_retention(db: str) -> None:
    now = datetime.fromtimestamp(NOW, UTC)
    for i, age in enumerate((400, 100, 1)):
        stamp = now - timedelta(days=age)
        await AuditRow.insert(
            AuditRow(
                id=f"audit_{i}",
                ts=stamp,
                actor="admin key",
                via="api",
                action="update",
                resource="plan",
                resource_id="plan_x",
                resource_name="free",
            )
        ).run()
        await AlertRow.insert(AlertRow(id=f"alert_{i}", dedup=f"d{i}", type="report.daily", created_at=stamp)).run()
    assert await retention.prune_history(0, 0, now=NOW) == (0, 0)  # 0 keeps them forever
    assert await retention.prune_history(0, 365, now=NOW) == (0, 1)
    assert await retention.prune_history(30, 30, now=NOW) == (2, 1)
    assert [r["id"] for r in await AuditRow.select(AuditRow.id).run()] == ["audit_2"]
    assert [r["id"] for r in await AlertRow.select(AlertRow.id).run()] == ["alert_2"]
