"""Usage by end user and by tag: aggregates read from the request log, not the rollups.

End users and tags are chosen by callers, so rolling them up would multiply the rollup rows by
every value they ever sent; they stay on the raw rows (`usage_event.end_user`, `usage_tag`) and
are summed here, over the rows the time range selects through the index on `ts`. So they reach
back as far as the request log's retention, where the rollups reach back forever. The measures
are the rollups' own (latency histogram included), so a group reads the same either way.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.accounting.filters import UsageFilter, epoch_sql, sql_where, where
from app.db.tables import LATENCY_BUCKETS_MS, UsageEventRow, UsageTagRow

__all__ = ["RAW_ONLY", "raw_summary_rows", "tags_of"]

RAW_ONLY = frozenset({"end_user", "tag"})
"""Groupings only the request log can answer."""


def _dimensions() -> dict[str, str]:
    epoch = epoch_sql()
    return {
        "hour": f"({epoch} / 3600) * 3600",
        "day": f"({epoch} / 86400) * 86400",
        "model": "model",
        "provider": "provider",
        "key": "key_id",
        "plan": "plan",
        "status": "status",
        "end_user": "end_user",
        "tag": "usage_tag.tag",
    }


def _histogram() -> list[str]:
    """`lat_<i>` as the rollups count it: latency at most bound i and above bound i-1."""
    out = []
    low: float | None = None
    for i, bound in enumerate(LATENCY_BUCKETS_MS):
        above = f"latency_ms > {low} AND " if low is not None else ""
        out.append(f"SUM(CASE WHEN {above}latency_ms <= {bound} THEN 1 ELSE 0 END) AS lat_{i}")
        low = bound
    out.append(f"SUM(CASE WHEN latency_ms > {low} THEN 1 ELSE 0 END) AS lat_{len(LATENCY_BUCKETS_MS)}")
    return out


_MEASURES = [
    "COUNT(*) AS requests",
    "SUM(CASE WHEN status >= 400 THEN 1 ELSE 0 END) AS errors",
    "SUM(prompt_tokens) AS prompt_tokens",
    "SUM(completion_tokens) AS completion_tokens",
    "SUM(cached_tokens) AS cached_tokens",
    "SUM(reasoning_tokens) AS reasoning_tokens",
    "SUM(CASE WHEN estimated THEN 1 ELSE 0 END) AS estimated",
    "SUM(cost_usd) AS cost_usd",
    "SUM(latency_ms) AS latency_ms_sum",
    "SUM(ttft_ms) AS ttft_ms_sum",
    "COUNT(ttft_ms) AS ttft_count",
    *_histogram(),
]


async def raw_summary_rows(f: UsageFilter, group_by: Sequence[str]) -> list[dict[str, Any]]:
    """One row per group with `g_<name>` columns and the rollups' measures, ordered by the groups.

    Grouped by tag, a request counts once under each of its tags, and untagged ones under null.
    """
    dimensions = _dimensions()
    clauses, args = where(f, on="event")
    source = "usage_event"
    if "tag" in group_by:
        source += " LEFT JOIN usage_tag ON usage_tag.event_id = usage_event.id"
    dims = [f"{dimensions[g]} AS g_{g}" for g in group_by]
    # Only our own column names and numbers go into the text; every value is a bound parameter.
    sql = f"SELECT {', '.join([*dims, *_MEASURES])} FROM {source}{sql_where(clauses)}"  # noqa: S608
    if group_by:
        keys = ", ".join(dimensions[g] for g in group_by)
        sql += f" GROUP BY {keys} ORDER BY {keys}"
    rows: list[dict[str, Any]] = await UsageEventRow.raw(sql, *args).run()
    return rows


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
