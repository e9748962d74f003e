"""A batch's end: its output and error files and its final state, written in one transaction."""

from __future__ import annotations

from typing import Any

from app.batches import files, store
from app.batches.lines import error_line, output_line, to_jsonl
from app.batches.store import BatchRecord, LineRecord
from app.db.tables import BatchRow

__all__ = ["fail", "finalize", "render"]

Json = dict[str, Any]
_PAGE = 1000


def render(line: LineRecord) -> tuple[bool, Json] | None:
    """(is an answer, its output line) for a finished line; None for one that never ran."""
    if line.status == "succeeded":
        return True, output_line(line.id, line.custom_id, line.status_code or 200, line.request_id, line.response)
    if line.status != "failed":
        return None
    if line.status_code is not None:
        return False, output_line(line.id, line.custom_id, line.status_code, line.request_id, line.response)
    return False, error_line(line.id, line.custom_id, line.error or {"code": "failed", "message": "failed"})


async def _collect(batch_id: str) -> tuple[list[Json], list[Json]]:
    outputs: list[Json] = []
    errors: list[Json] = []
    after = -1
    while True:
        page = await store.lines(batch_id, limit=_PAGE, after_no=after)
        for line in page:
            rendered = render(line)
            if rendered is not None:
                (outputs if rendered[0] else errors).append(rendered[1])
        if len(page) < _PAGE:
            return outputs, errors
        after = page[-1].line_no


async def finalize(
    batch: BatchRecord,
    status: str,
    *,
    upstream_outputs: list[Json] | None = None,
    upstream_errors: list[Json] | None = None,
    errors: list[Json] | None = None,
) -> BatchRecord | None:
    """Write the output and error files (the stored lines plus what a provider answered) and the
    final status; the lease is dropped with it. None when the batch was not ours to finish."""
    if status == "completed":
        await store.update(batch.id, {"status": "finalizing", "finalizing_at": store.now()}, status_in=("in_progress",))
    outputs, failures = await _collect(batch.id)
    outputs += upstream_outputs or []
    failures += upstream_errors or []
    values: dict[Any, Any] = {
        BatchRow.status: status,
        getattr(BatchRow, f"{status}_at"): store.now(),
        BatchRow.completed: len(outputs),
        BatchRow.failed: len(failures),
        BatchRow.locked_by: None,
        BatchRow.locked_until: None,
    }
    if errors:
        values[BatchRow.errors] = store.encode_json(errors)
    queries: list[Any] = []
    for kind, lines in (("output", outputs), ("error", failures)):
        if lines:
            query, record = files.insert(batch.key_id, f"{batch.id}_{kind}.jsonl", "batch_output", to_jsonl(lines))
            queries.append(query)
            values[getattr(BatchRow, f"{kind}_file_id")] = record.id
    try:
        async with BatchRow._meta.db.transaction():
            for query in queries:
                await query.run()
            rows = (
                await BatchRow.update(values)
                .where((BatchRow.id == batch.id) & BatchRow.status.is_in(list(store.ACTIVE)))
                .returning(BatchRow.id)
                .run()
            )
            if not rows:
                raise _NotOurs()
    except _NotOurs:
        return None
    return await store.get(batch.id)


class _NotOurs(Exception):
    """Rolls the file inserts back when the batch already ended elsewhere."""


async def fail(batch: BatchRecord, code: str, message: str) -> BatchRecord | None:
    """The batch cannot run at all (no input file, no lines, ...): failed, with the reason in `errors`."""
    error = {"code": code, "message": message, "param": None, "line": None}
    values = {"status": "failed", "failed_at": store.now(), "errors": [error], "locked_by": None, "locked_until": None}
    return await store.update(batch.id, values, status_in=store.ACTIVE)
