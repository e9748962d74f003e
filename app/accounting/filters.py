"""What usage queries filter on, and the SQL WHERE it becomes on the request log or the hourly rollup."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from piccolo.engine.postgres import PostgresEngine

from app.db.tables import LATENCY_BUCKETS_MS, UsageEventRow

__all__ = [
    "LATENCY_BUCKET_SQL",
    "TEAM_KEYS_SQL",
    "TEAM_OF_KEY_SQL",
    "Table",
    "UsageFilter",
    "epoch_sql",
    "is_midnight",
    "rounded",
    "sql_where",
    "where",
]

Table = Literal["event", "hour", "day"]
"""Which table a filter applies to: the request log, the hourly or the daily rollup."""


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
    end_user: str | None = None
    tag: str | None = None
    """End user and tag are on the request log only (`raw_usage`), never in the rollups."""
    team: str | None = None
    """A team's name: the usage of the keys made in it (a key's team is fixed when it is made)."""

    @property
    def attributed(self) -> bool:
        """Whether it filters on what only the request log keeps."""
        return self.end_user is not None or self.tag is not None


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def is_midnight(moment: datetime | None) -> bool:
    """True for None and for a UTC day boundary: bounds the daily rollup can answer exactly."""
    return moment is None or _epoch(moment) % 86400 == 0


def _time_range(f: UsageFilter, on: Table) -> tuple[list[str], list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    column = {"event": "ts", "hour": "hour_ts", "day": "day"}[on]
    for bound, op in ((f.start, ">="), (f.end, "<")):
        if bound is None:
            continue
        clauses.append(f"{column} {op} {{}}")
        if on == "event":
            args.append(bound)
        elif on == "hour":
            args.append(_epoch(bound) // 3600 * 3600 if op == ">=" else _epoch(bound))
        else:
            args.append(bound.astimezone(UTC).date())
    return clauses, args


TEAM_KEYS_SQL = "SELECT api_key.id FROM api_key JOIN team ON team.id = api_key.team_id WHERE team.name = {}"
TEAM_OF_KEY_SQL = "(SELECT team.name FROM api_key JOIN team ON team.id = api_key.team_id WHERE api_key.id = key_id)"
"""A usage row's team, by its key (null: no team, or a deleted one): every table of usage has `key_id`."""


def _bucket_sql(low: int, high: int) -> str:
    """Buckets `low`..`high` (`high` = the overflow bucket) as nested CASEs that halve the range each time."""
    if low == high:
        return str(low)
    mid = (low + high) // 2
    bound = LATENCY_BUCKETS_MS[mid]
    return f"CASE WHEN latency_ms <= {bound} THEN {_bucket_sql(low, mid)} ELSE {_bucket_sql(mid + 1, high)} END"


LATENCY_BUCKET_SQL = _bucket_sql(0, len(LATENCY_BUCKETS_MS))
"""A request-log row's latency histogram bucket, as the rollups count it (`rollups.bucket_index`): five
comparisons a row instead of up to 25 in one flat CASE, which cut a month's report by end user or tag
(60,000 rows on SQLite) from about 130 ms to 80."""


def epoch_sql() -> str:
    """The request log's `ts` as Unix seconds, in the configured database's SQL."""
    if isinstance(UsageEventRow._meta.db, PostgresEngine):
        return "CAST(EXTRACT(EPOCH FROM ts) AS BIGINT)"
    return "CAST(strftime('%s', ts) AS INTEGER)"


def where(f: UsageFilter, *, on: Table) -> tuple[list[str], list[Any]]:
    """WHERE clauses and their bound values for the request log, the hourly or the daily rollup."""
    clauses: list[str] = []
    args: list[Any] = []
    if f.attributed:
        assert on == "event", "end user and tag are kept on the request log only"
        if f.end_user is not None:
            clauses.append("end_user = {}")
            args.append(f.end_user)
        if f.tag is not None:
            clauses.append("usage_event.id IN (SELECT event_id FROM usage_tag WHERE tag = {})")
            args.append(f.tag)
    for column, value in (("key_id", f.key_id), ("plan", f.plan), ("model", f.model), ("provider", f.provider)):
        if value is not None:
            clauses.append(f"{column} = {{}}")
            args.append(value)
    if f.team is not None:
        clauses.append(f"key_id IN ({TEAM_KEYS_SQL})")
        args.append(f.team)
    if f.status is not None:
        clauses.append("status >= {} AND status < {}")
        args += list(f.status)
    if f.scope is not None:
        clauses.append("key_id IN (" + ", ".join(["{}"] * len(f.scope)) + ")")
        args += sorted(f.scope)
    time_clauses, time_args = _time_range(f, on)
    return clauses + time_clauses, args + time_args


def sql_where(clauses: list[str]) -> str:
    return (" WHERE " + " AND ".join(clauses)) if clauses else ""


def rounded(value: float | None) -> float | None:
    return round(value, 2) if value is not None else None
