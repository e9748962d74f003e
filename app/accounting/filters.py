"""What usage queries filter on, and the SQL WHERE it becomes on the request log or the hourly rollup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

__all__ = ["UsageFilter", "rounded", "sql_where", "where"]


@dataclass(frozen=True, slots=True)
class UsageFilter:
    """What to count. `scope` is the set of key ids the caller may see (None: every key)."""

    key_id: str | None = None
    plan: str | None = None
    model: str | None = None
    """The upstream model id as the provider config names it (`gpt-4.1-mini`)."""
    provider: str | None = None
    status: tuple[int, int] | None = None
    """Half-open range: (429, 430) for one status, (400, 600) for every error."""
    start: datetime | None = None
    end: datetime | None = None
    scope: frozenset[str] | None = None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def where(f: UsageFilter, *, hourly: bool) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    for column, value in (("key_id", f.key_id), ("plan", f.plan), ("model", f.model), ("provider", f.provider)):
        if value is not None:
            clauses.append(f"{column} = {{}}")
            args.append(value)
    if f.status is not None:
        clauses.append("status >= {} AND status < {}")
        args += list(f.status)
    if f.scope is not None:
        clauses.append("key_id IN (" + ", ".join(["{}"] * len(f.scope)) + ")")
        args += sorted(f.scope)
    if hourly:
        if f.start is not None:
            clauses.append("hour_ts >= {}")
            args.append(_epoch(f.start) // 3600 * 3600)
        if f.end is not None:
            clauses.append("hour_ts < {}")
            args.append(_epoch(f.end))
    else:
        if f.start is not None:
            clauses.append("ts >= {}")
            args.append(f.start)
        if f.end is not None:
            clauses.append("ts < {}")
            args.append(f.end)
    return clauses, args


def sql_where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
