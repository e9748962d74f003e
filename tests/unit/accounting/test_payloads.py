"""Kept bodies: which requests keep them, cut to the limit, written with their rows on either database
(credentials masked, a replay writes nothing twice), read back with the row, pruned on their own clock."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.accounting import retention
from app.accounting.events import Payload
from app.accounting.payloads import PayloadLog
from app.accounting.queries import request_by_id
from app.accounting.queue import UsageQueue
from app.accounting.writer import UsageWriter
from app.db.tables import UsageEventRow, UsagePayloadRow
from tests.unit.accounting.conftest import event

NOW = 1_800_000_000.0


def test_which_requests_keep_their_bodies() -> None:
    every, failures = PayloadLog("all", 100), PayloadLog("errors", 100)
    assert every.wants("chat.completions", 200, {})
    assert not failures.wants("chat.completions", 200, {}) and failures.wants("messages", 502, {})
    assert not every.wants("audio.transcriptions", 200, {})  # multipart uploads and audio are not text
    for off in ("off", "false", "0", "No "):
        assert not every.wants("responses", 200, {"x-polyroute-log-payload": off})
    assert every.wants("responses", 200, {"x-polyroute-log-payload": "on"})


def test_capture_cuts_both_sides_and_takes_a_rewrite_or_a_streams_text() -> None:
    log = PayloadLog("all", 10)
    assert log.capture(b"0123456789", b"short") == Payload(request=b"0123456789", response=b"short")
    cut = log.capture(b"x" * 50, lambda: "y" * 11)
    assert cut == Payload(request=b"x" * 10, response=b"y" * 10, truncated=True)
    assert log.capture({"a": 1}, None) == Payload(request=b'{"a":1}', response=b"")


async def test_bodies_are_written_with_their_rows_masked_and_read_back(db: str, tmp_path: Path) -> None:
    writer = UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"))
    secret = '{"messages": "my api_key: sk-live-abcdefghijklmnop", "x": "caf\u00e9'.encode()
    kept = event(payload=Payload(request=secret[:-1], response=b'{"ok": true}', truncated=True))
    plain = event()
    for e in (kept, plain, kept):  # the same event twice: a replayed spool segment
        writer.queue.put(e)
    await writer.flush()
    record = await request_by_id(kept.id)
    assert record is not None and record.payload is not None
    assert "sk-live-abcdefghijklmnop" not in record.payload.request
    assert record.payload.request.startswith('{"messages": "my api_key: ') and record.payload.request.endswith('"caf')
    assert (record.payload.response, record.payload.truncated) == ('{"ok": true}', True)
    other = await request_by_id(plain.id)
    assert other is not None and other.payload is None
    assert await UsagePayloadRow.count().run() == 1


async def test_bodies_go_after_their_own_retention_and_with_their_rows(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(retention, "_CHUNK", 3)
    writer = UsageWriter(UsageQueue(), str(tmp_path / f"usage-spool-{os.getpid()}.jsonl"))
    body = Payload(request=b"{}")
    old = [event(ts=NOW - 40 * 86400 - i, payload=body) for i in range(7)]
    recent = event(ts=NOW - 86400, payload=body)
    ancient = event(ts=NOW - 100 * 86400, payload=body)
    for e in [*old, recent, ancient]:
        writer.queue.put(e)
    await writer.flush()
    assert await retention.prune_payloads(0, now=NOW) == 0  # 0: as long as the row
    assert await retention.prune(90, now=NOW) == 1  # the ancient row, and its body with it

    assert await retention.prune_payloads(30, now=NOW) == 7
    left = await UsagePayloadRow.select(UsagePayloadRow.event_id).run()
    assert [r["event_id"] for r in left] == [recent.id]
    assert await UsageEventRow.count().run() == 8  # the rows stay
