"""The batched usage writer: drains the queue into the request log and the daily rollups.

When the database is unreachable, batches go to an append-only spool file and are replayed,
in order, once it answers again; nothing is dropped.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import msgspec

from app.accounting.events import UsageEvent
from app.accounting.queue import UsageQueue
from app.db.tables import UsageDailyRow, UsageEventRow

__all__ = ["UsageWriter"]

log = logging.getLogger("polyroute.accounting")

_ROLLUP_SQL = (
    "INSERT INTO usage_daily (id, day, key_id, model, provider, requests, errors, prompt_tokens,"
    " completion_tokens, cost_usd, latency_ms_sum) VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {}, {})"
    " ON CONFLICT (id) DO UPDATE SET requests = usage_daily.requests + EXCLUDED.requests,"
    " errors = usage_daily.errors + EXCLUDED.errors,"
    " prompt_tokens = usage_daily.prompt_tokens + EXCLUDED.prompt_tokens,"
    " completion_tokens = usage_daily.completion_tokens + EXCLUDED.completion_tokens,"
    " cost_usd = usage_daily.cost_usd + EXCLUDED.cost_usd,"
    " latency_ms_sum = usage_daily.latency_ms_sum + EXCLUDED.latency_ms_sum"
)


def _row(event: UsageEvent) -> UsageEventRow:
    u = event.usage
    return UsageEventRow(
        id=event.id,
        ts=datetime.fromtimestamp(event.ts, UTC),
        key_id=event.key_id,
        user_id=event.user_id,
        plan=event.plan,
        endpoint=event.endpoint,
        requested_model=event.requested_model,
        route=event.route,
        provider=event.provider,
        model=event.model,
        status=event.status,
        error_code=event.error_code,
        stream=event.stream,
        prompt_tokens=u.prompt_tokens,
        completion_tokens=u.completion_tokens,
        cached_tokens=u.cached_tokens,
        reasoning_tokens=u.reasoning_tokens,
        estimated=u.estimated,
        cost_usd=event.cost_usd,
        latency_ms=event.latency_ms,
        ttft_ms=event.ttft_ms,
        attempts=event.attempts,
        detail=msgspec.json.encode(event.detail).decode() if event.detail else None,
        trace_id=event.trace_id,
    )


def _rollups(events: list[UsageEvent]) -> list[list[Any]]:
    groups: dict[tuple[str, str | None, str | None, str | None], list[float]] = defaultdict(lambda: [0.0] * 6)
    for e in events:
        day = datetime.fromtimestamp(e.ts, UTC).date().isoformat()
        acc = groups[(day, e.key_id, e.model, e.provider)]
        acc[0] += 1
        acc[1] += 1 if e.status >= 400 else 0
        acc[2] += e.usage.prompt_tokens
        acc[3] += e.usage.completion_tokens
        acc[4] += e.cost_usd
        acc[5] += e.latency_ms
    rows = []
    for (day, key_id, model, provider), acc in groups.items():
        row_id = f"{day}|{key_id or ''}|{model or ''}|{provider or ''}"[:300]
        rows.append(
            [
                row_id,
                datetime.fromisoformat(day).date(),
                key_id,
                model,
                provider,
                int(acc[0]),
                int(acc[1]),
                int(acc[2]),
                int(acc[3]),
                acc[4],
                acc[5],
            ]
        )
    return rows


class UsageWriter:
    """Run `flush()` every interval (APScheduler) and once more at shutdown."""

    def __init__(self, queue: UsageQueue, spool_path: str, batch_size: int = 500) -> None:
        self.queue = queue
        self.spool = Path(spool_path)
        self.batch_size = batch_size
        self.written = 0
        self.last_flush_lag_s = 0.0
        self._lock = asyncio.Lock()

    async def _write(self, events: list[UsageEvent]) -> None:
        db = UsageEventRow._meta.db
        async with db.transaction():
            for start in range(0, len(events), 100):
                await (
                    UsageEventRow.insert(*[_row(e) for e in events[start : start + 100]])
                    .on_conflict(action="DO NOTHING")
                    .run()
                )
            for values in _rollups(events):
                await UsageDailyRow.raw(_ROLLUP_SQL, *values).run()

    def _spool(self, events: list[UsageEvent]) -> None:
        with self.spool.open("ab") as handle:
            for event in events:
                handle.write(msgspec.json.encode(event) + b"\n")
            handle.flush()
            os.fsync(handle.fileno())

    async def _replay_spool(self) -> None:
        if not self.spool.exists() or self.spool.stat().st_size == 0:
            return
        decoder = msgspec.json.Decoder(UsageEvent)
        lines = self.spool.read_bytes().splitlines()
        events = [decoder.decode(line) for line in lines if line.strip()]
        for start in range(0, len(events), self.batch_size):
            await self._write(events[start : start + self.batch_size])
        # Rows are keyed by event id and inserted with DO NOTHING, so a crash mid-replay is harmless.
        self.spool.unlink()
        log.info("replayed %d spooled usage events", len(events))
        self.written += len(events)

    async def flush(self) -> int:
        """Write everything queued; returns how many events reached the database."""
        async with self._lock:
            written = 0
            try:
                await self._replay_spool()
            except Exception as exc:
                log.warning("usage spool replay deferred: %s", exc)
                self._spool(self.queue.take(len(self.queue)))
                return 0
            while len(self.queue):
                batch = self.queue.take(self.batch_size)
                if batch:
                    self.last_flush_lag_s = max(0.0, datetime.now(UTC).timestamp() - batch[0].ts)
                try:
                    await self._write(batch)
                except Exception as exc:
                    log.warning("usage write failed, spooling %d events: %s", len(batch), exc)
                    self._spool(batch + self.queue.take(len(self.queue)))
                    return written
                written += len(batch)
                self.written += len(batch)
            return written
