"""Feedback on requests (Portkey's feedback API): a score from -10 to 10 an application gives one request
of the log (a thumbs up or down, an eval's grade), with a weight and metadata, and the scores summed up
by model, provider, route, key or day over the requests they were given for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from app.accounting.filters import UsageFilter, sql_where, where
from app.catalog.keys import new_id
from app.catalog.store import dump_json, load_json
from app.db.tables import FeedbackRow, UsageEventRow

__all__ = ["FEEDBACK_GROUPS", "Feedback", "FeedbackCreate", "FeedbackGroup", "feedback_for", "give", "summary"]

MetaValue = Annotated[str, Meta(max_length=200)] | int | float | bool


class FeedbackCreate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """POST /v1/feedback: which request (the `x-request-id` its response carried), and the score."""

    request_id: Annotated[str, Meta(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9._\-]+$")]
    value: Annotated[int, Meta(ge=-10, le=10)]
    weight: Annotated[float, Meta(ge=0, le=1)] = 1.0
    metadata: Annotated[dict[Annotated[str, Meta(min_length=1, max_length=64)], MetaValue], Meta(max_length=16)] = (
        msgspec.field(default_factory=dict)
    )


class Feedback(msgspec.Struct, kw_only=True):
    id: str
    object: str = "feedback"
    request_id: str
    value: int
    weight: float
    metadata: dict[str, Any]
    given_by: str
    created_at: datetime


class FeedbackGroup(msgspec.Struct, kw_only=True):
    """The scores given to one group's requests: how many, their weighted average, and the share that
    was positive."""

    group: dict[str, Any]
    count: int
    average: float | None
    positive_share: float | None


FEEDBACK_GROUPS = {"model": "e.model", "provider": "e.provider", "route": "e.route", "key": "e.key_id"}


def _record(row: dict[str, Any]) -> Feedback:
    stamp = row["created_at"]
    if isinstance(stamp, str):
        stamp = datetime.fromisoformat(stamp)
    return Feedback(
        id=row["id"],
        request_id=row["event_id"],
        value=row["value"],
        weight=row["weight"],
        metadata=load_json(row["metadata"]) or {},
        given_by=row["given_by"],
        created_at=stamp,
    )


async def give(data: FeedbackCreate, given_by: str) -> Feedback:
    """Stored for a request the caller may see (the endpoint checked that)."""
    row = FeedbackRow(
        id=new_id("fb"),
        event_id=data.request_id,
        value=data.value,
        weight=data.weight,
        metadata=dump_json(data.metadata),
        given_by=given_by,
        created_at=datetime.now(UTC),
    )
    await FeedbackRow.insert(row).run()
    return _record(row.to_dict())


async def feedback_for(request_id: str) -> list[Feedback]:
    rows = await FeedbackRow.select().where(FeedbackRow.event_id == request_id).order_by(FeedbackRow.created_at).run()
    return [_record(r) for r in rows]


async def summary(f: UsageFilter, group_by: list[str]) -> list[FeedbackGroup]:
    """Scores over the requests the filter picks (the request log's own filters), grouped."""
    clauses, args = where(f, on="event")
    inner = f"SELECT id, model, provider, route, key_id FROM usage_event{sql_where(clauses)}"  # noqa: S608
    columns = [FEEDBACK_GROUPS[g] for g in group_by]
    select = ", ".join([*(f"{c} AS g{i}" for i, c in enumerate(columns)), "COUNT(*) AS n"])
    sql = (
        f"SELECT {select}, SUM(fb.value * fb.weight) AS wsum, SUM(fb.weight) AS wtotal,"  # noqa: S608
        " SUM(CASE WHEN fb.value > 0 THEN 1 ELSE 0 END) AS positive"
        f" FROM feedback fb JOIN ({inner}) e ON e.id = fb.event_id"
        + (f" GROUP BY {', '.join(columns)}" if columns else "")
    )
    rows = await UsageEventRow.raw(sql, *args).run()
    out = []
    for r in rows:
        count = int(r["n"] or 0)
        if not count:
            continue
        total = float(r["wtotal"] or 0.0)
        out.append(
            FeedbackGroup(
                group={g: r[f"g{i}"] for i, g in enumerate(group_by)},
                count=count,
                average=round(float(r["wsum"] or 0.0) / total, 4) if total else None,
                positive_share=round(int(r["positive"] or 0) / count, 4),
            )
        )
    return sorted(out, key=lambda g: -g.count)
