"""Usage by end user and by tag: aggregates read from the request log, not the rollups.

End users and tags are chosen by callers, so rolling them up would multiply the rollup rows by
every value they ever sent; they stay on the raw rows (`usage_event.end_user`, `usage_tag`) and
are summed here, over the rows the time range selects through the index on `ts`. So they reach
back as far as the request log's retention, where the rollups reach back forever. The measures
are the rollups' own (latency histogram included), so a group reads the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from piccolo.engine.postgres import PostgresEngine

from app.accounting.filters import LATENCY_BUCKET_SQL, TEAM_OF_KEY_SQL, UsageFilter, epoch_sql, sql_where, where
from app.accounting.rollups import HISTOGRAM_COLUMNS
from app.db.tables import UsageEventRow, UsageTagRow

__all__ = ["RAW_ONLY", "raw_summary_rows", "tags_of"]

RAW_ONLY = frozenset({"end_user", "tag"})
"""Groupings only the request log can answer."""


def _dimensions() -> dict[str, str]:
    if isinstance(UsageEventRow._meta.db, PostgresEngine):
        epoch = epoch_sql()
        day, hour = f"({epoch} / 86400) * 86400", f"({epoch} / 3600) * 3600"
    else:  # SQLite keeps `ts` as UTC ISO text: its prefix is the day or hour, far cheaper than strftime per row
        day, hour = "substr(ts, 1, 10)", "substr(ts, 1, 13)"
    return {
        "hour": hour,
        "day": day,
        "model": "model",
        "provider": "provider",
        "key": "key_id",
        "plan": "plan",
        "team": TEAM_OF_KEY_SQL,
        "status": "status",
        "end_user": "end_user",
        "tag": "usage_tag.tag",
    }


_SUMS = (
    "prompt_tokens",
    "completion_tokens",
    "cached_tokens",
    "reasoning_tokens",
    "cost_usd",
)
_MEASURES = [
    "COUNT(*) AS requests",
    "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors",
    *(f"SUM({c}) AS {c}" for c in _SUMS),
    "SUM(CASE WHEN estimated THEN 1 ELSE 0 END) AS estimated",
    "SUM(latency_ms) AS latency_ms_sum",
    "SUM(ttft_ms) AS ttft_ms_sum",
    "COUNT(ttft_ms) AS ttft_count",
]
_FOLDED = ("requests", "errors", *_SUMS, "estimated", "latency_ms_sum", "ttft_ms_sum", "ttft_count")


def _hour_epoch(value: Any) -> Any:
    """SQLite's `YYYY-MM-DD HH` (or `THH`) prefix as the Unix hour the rollups use; Postgres's already is."""
    if isinstance(value, str):
        return int(datetime.fromisoformat(f"{value[:10]}T{value[11:13]}:00:00+00:00").timestamp())
    return value


def _fold(rows: list[dict[str, Any]], group_by: Sequence[str]) -> list[dict[str, Any]]:
    """Rows per (group, latency bucket) -> one row per group, the buckets as `lat_<i>` counts."""
    out: dict[tuple[Any, ...], dict[str, Any]] = {}
    for row in rows:
        key = tuple(row[f"g_{g}"] for g in group_by)
        into = out.get(key)
        if into is None:
            into = out[key] = {f"g_{g}": row[f"g_{g}"] for g in group_by} | dict.fromkeys(HISTOGRAM_COLUMNS, 0)
            into |= dict.fromkeys(_FOLDED, 0)
        for name in _FOLDED:
            into[name] += row[name] or 0
        into[HISTOGRAM_COLUMNS[int(row["bucket"])]] += row["requests"]
    if "hour" in group_by:
        for row in out.values():
            row["g_hour"] = _hour_epoch(row["g_hour"])
    return list(out.values())


async def raw_summary_rows(f: UsageFilter, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per group with `g_<name>` columns and the rollups' measures, ordered by the groups.

    Grouped by tag, a request counts once under each of its tags, and untagged ones under null.
    SQL sums per group and latency bucket (one CASE per row); the buckets are folded here.
    """
    dimensions = _dimensions()
    clauses, args = where(f, on="event")
    source = "usage_event"
    if "tag" in group_by:
        source += " LEFT JOIN usage_tag ON usage_tag.event_id = usage_event.id"
    dims = [f"{dimensions[g]} AS g_{g}" for g in group_by]
    keys = [dimensions[g] for g in group_by]
    # Only our own column names and numbers go into the text; every value is a bound parameter.
    sql = (
        f"SELECT {', '.join([*dims, f'{LATENCY_BUCKET_SQL} AS bucket', *_MEASURES])} FROM {source}{sql_where(clauses)}"  # noqa: S608
        f" GROUP BY {', '.join([*keys, 'bucket'])}"
    )
    if keys:
        sql += f" ORDER BY {', '.join(keys)}"
    return _fold(await UsageEventRow.raw(sql, *args).run(), group_by)


async def tags_of(event_ids: Sequence[str]) -> dict[str, list[str]]:
    """The tags of each of these request-log rows (rows without tags are absent)."""
    if not event_ids:
        return {}
    marks = ", ".join(["{}"] * len(event_ids))
    sql = f"SELECT event_id, tag FROM usage_tag WHERE event_id IN ({marks}) ORDER BY id"  # noqa: S608
    out: dict[str, list[str]] = {}
    for row in await UsageTagRow.raw(sql, *event_ids).run():
        out.setdefault(row["event_id"], []).append(row["tag"])
    return out
