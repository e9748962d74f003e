"""The retention job: drop request-log rows past the retention period (rollups are kept), and audit and
alert rows past theirs."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime

from app.db.tables import AlertRow, AuditRow, LimitCounterRow, UsageEventRow, UsagePayloadRow

__all__ = ["prune", "prune_history", "prune_payloads", "retention_job"]

log = logging.getLogger("polyroute.accounting")

_CHUNK = 5000
"""Rows per DELETE, so a large backlog never holds the write lock for long."""


async def prune(retention_days: int, now: float | None = None) -> int:
    """Delete raw usage rows (and their tags) older than `retention_days` (0 = keep forever) and expired limit counters.

    Returns how many usage rows went. Rollups (usage_daily, usage_hourly) are never pruned.
    """
    moment = time.time() if now is None else now
    deleted = 0
    if retention_days > 0:
        cutoff = datetime.fromtimestamp(moment - retention_days * 86400, UTC)
        sql = "DELETE FROM usage_event WHERE id IN (SELECT id FROM usage_event WHERE ts < {} LIMIT {}) RETURNING id"
        while True:
            rows = await UsageEventRow.raw(sql, cutoff, _CHUNK).run()
            deleted += len(rows)
            if rows:  # their tags, bodies and feedback go with them
                ids = [r["id"] for r in rows]
                marks = ", ".join(["{}"] * len(ids))
                for table in ("usage_tag", "usage_payload", "feedback"):
                    await UsageEventRow.raw(f"DELETE FROM {table} WHERE event_id IN ({marks})", *ids).run()  # noqa: S608
            if len(rows) < _CHUNK:
                break
    stale = datetime.fromtimestamp(moment - 3600, UTC)
    await LimitCounterRow.delete().where(LimitCounterRow.expires_at < stale).run()
    if deleted:
        log.info("retention: deleted %d request-log rows older than %d days", deleted, retention_days)
    return deleted


async def prune_payloads(retention_days: int, now: float | None = None) -> int:
    """Delete kept request and answer bodies older than `retention_days` (0: they live as long as their row)."""
    if retention_days <= 0:
        return 0
    cutoff = datetime.fromtimestamp((time.time() if now is None else now) - retention_days * 86400, UTC)
    sql = (
        "DELETE FROM usage_payload WHERE event_id IN "
        "(SELECT event_id FROM usage_payload WHERE ts < {} LIMIT {}) RETURNING event_id"
    )
    deleted = 0
    while True:
        rows = await UsagePayloadRow.raw(sql, cutoff, _CHUNK).run()
        deleted += len(rows)
        if len(rows) < _CHUNK:
            break
    if deleted:
        log.info("retention: deleted %d kept bodies older than %d days", deleted, retention_days)
    return deleted


async def prune_history(audit_days: int, alert_days: int, now: float | None = None) -> tuple[int, int]:
    """Delete audit-log and alert rows older than their retention (0 = keep forever): (audit, alerts) deleted.

    Rows are few (one per catalog change, one per alert), so one statement each does."""
    moment = time.time() if now is None else now
    counts = []
    for table, stamp, days in ((AuditRow, AuditRow.ts, audit_days), (AlertRow, AlertRow.created_at, alert_days)):
        if days <= 0:
            counts.append(0)
            continue
        cutoff = datetime.fromtimestamp(moment - days * 86400, UTC)
        gone = await table.delete().where(stamp < cutoff).returning(table._meta.primary_key).run()
        counts.append(len(gone))
        if gone:
            log.info("retention: deleted %d %s rows older than %d days", len(gone), table._meta.tablename, days)
    return counts[0], counts[1]


async def retention_job(retention_days: int, audit_days: int = 0, alert_days: int = 0, payload_days: int = 0) -> None:
    """The prunes for the scheduler: a database outage is logged and the next run tries again."""
    try:
        await prune(retention_days)
        await prune_payloads(payload_days)
        await prune_history(audit_days, alert_days)
    except Exception as exc:
        log.warning("retention job failed (%s: %s); retrying at the next run", type(exc).__name__, exc)
