"""The rollup job: build daily rollup rows for closed days the hourly rollup has and the daily one lacks.

The writer keeps both rollups in step in one transaction, so in normal operation there is
nothing to do. Days arrive here when hourly rows were loaded without daily ones (an import, a
restore, a database seeded by hand); each such day is folded from its hourly rows exactly once.
"""

from __future__ import annotations

import logging
import time
from datetime import UTC, date, datetime
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from app.accounting.rollups import DAILY_COLUMNS, DIMENSIONS, MEASURES, rollup_id, upsert_sql
from app.accounting.rows import transaction
from app.db.tables import UsageDailyRow, UsageHourlyRow

__all__ = ["backfill_daily", "rollup_job"]

log = logging.getLogger("polyroute.accounting")

_DIMS = ", ".join(DIMENSIONS)
_SUMS = ", ".join(f"SUM({m}) AS {m}" for m in MEASURES)
# Only our own column names go into the text; the day bounds are bound parameters.
_FOLD = f"SELECT hour_ts / 86400 AS d, {_DIMS}, {_SUMS} FROM usage_hourly WHERE hour_ts >= {{}} AND hour_ts < {{}}"  # noqa: S608
_FOLD += f" GROUP BY hour_ts / 86400, {_DIMS}"
_FLOATS = {"cost_usd", "latency_ms_sum", "ttft_ms_sum"}


def _number(measure: str, value: Any) -> int | float:
    """Postgres sums integers into numeric (Decimal); the daily columns want int or float."""
    return float(value or 0) if measure in _FLOATS else int(value or 0)


def _as_day(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


async def _missing_days(before: int) -> list[int]:
    """Closed days (Unix day numbers) present in the hourly rollup and absent from the daily one."""
    hourly = await UsageHourlyRow.raw(
        "SELECT DISTINCT hour_ts / 86400 AS d FROM usage_hourly WHERE hour_ts < {}", before * 86400
    ).run()
    daily = await UsageDailyRow.raw("SELECT DISTINCT day FROM usage_daily").run()
    have = {(_as_day(r["day"]) - date(1970, 1, 1)).days for r in daily}
    return sorted(int(r["d"]) for r in hourly if int(r["d"]) not in have)


async def _fold(day: int) -> int:
    rows = await UsageHourlyRow.raw(_FOLD, day * 86400, (day + 1) * 86400).run()
    values: list[list[object]] = []
    for r in rows:
        when = datetime.fromtimestamp(day * 86400, UTC).date()
        dims = [r[d] for d in DIMENSIONS]
        values.append([rollup_id(when, *dims), when, *dims, *(_number(m, r[m]) for m in MEASURES)])
    per_statement = max(1, 30000 // len(DAILY_COLUMNS))
    for start in range(0, len(values), per_statement):
        chunk = values[start : start + per_statement]
        flat = [v for row in chunk for v in row]
        await UsageDailyRow.raw(upsert_sql("usage_daily", DAILY_COLUMNS, len(chunk)), *flat).run()
    return len(values)


async def backfill_daily(now: float | None = None) -> int:
    """Fold every missing closed day; returns how many days were built."""
    today = int((time.time() if now is None else now) // 86400)
    if not await _missing_days(today):
        return 0
    async with transaction():
        if isinstance(UsageDailyRow._meta.db, PostgresEngine):
            # Writers wait for the few milliseconds this takes, so no event is folded twice or missed.
            await UsageDailyRow.raw("LOCK TABLE usage_daily IN EXCLUSIVE MODE").run()
        days = await _missing_days(today)
        for day in days:
            await _fold(day)
    if days:
        log.info("rollup job: built the daily rollup of %d day(s) from hourly rows", len(days))
    return len(days)


async def rollup_job() -> None:
    """`backfill_daily` for the scheduler: a database outage is logged and the next run tries again."""
    try:
        await backfill_daily()
    except Exception as exc:
        log.warning("rollup job failed (%s: %s); retrying at the next run", type(exc).__name__, exc)
