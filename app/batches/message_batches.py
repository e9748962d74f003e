"""Anthropic's Message Batches in and out: pure functions over the batch and line rows.

A message batch is an emulated batch on the endpoint `/v1/messages` (`coordinator.py` runs it
line by line through the pipeline, as the owner's key, like any batch that is not handed to a
provider), so any routable model can be batched with the Anthropic SDK. Its requests become the
input lines an OpenAI batch file would hold; its state, counts and results are read back here in
Anthropic's shapes (`message_batch`, the `.jsonl` results of `client.messages.batches.results`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import msgspec

from app.batches.lines import MAX_LINES, MESSAGES_ENDPOINT
from app.batches.store import BatchRecord, LineRecord
from app.catalog.store import rfc3339
from app.errors import InvalidRequestError
from app.providers.errors import ANTHROPIC_ERROR_TYPES

__all__ = [
    "ENDPOINT",
    "ID_PREFIX",
    "batch_object",
    "input_lines",
    "processing_status",
    "result_line",
]

ENDPOINT = MESSAGES_ENDPOINT
ID_PREFIX = "msgbatch_"
_CUSTOM_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")

Json = dict[str, Any]


def input_lines(doc: Json) -> bytes:
    """`{"requests": [{"custom_id", "params"}, ...]}` as batch input lines (JSONL); 400 naming the first fault."""
    requests = doc.get("requests")
    if not isinstance(requests, list) or not requests:
        raise InvalidRequestError("'requests' must be a non-empty array", param="requests")
    if len(requests) > MAX_LINES:
        raise InvalidRequestError(f"'requests' holds {len(requests)} requests; at most {MAX_LINES}", param="requests")
    seen: set[str] = set()
    out = []
    for index, item in enumerate(requests):
        where = f"requests.{index}"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{where} must be an object", param=where)
        custom_id, params = item.get("custom_id"), item.get("params")
        if not isinstance(custom_id, str) or not _CUSTOM_ID.fullmatch(custom_id):
            raise InvalidRequestError(
                f"{where}.custom_id must be 1 to 64 letters, digits, '_' or '-'", param=f"{where}.custom_id"
            )
        if custom_id in seen:
            raise InvalidRequestError(f"{where}.custom_id {custom_id!r} is used twice", param=f"{where}.custom_id")
        seen.add(custom_id)
        if not isinstance(params, dict):
            raise InvalidRequestError(f"{where}.params must be an object", param=f"{where}.params")
        if params.get("stream") is True:
            raise InvalidRequestError(
                f"{where}.params: a batched request cannot stream", param=f"{where}.params.stream"
            )
        out.append(msgspec.json.encode({"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": params}))
    return b"\n".join(out) + b"\n"


def processing_status(batch: BatchRecord) -> str:
    if batch.status == "cancelling":
        return "canceling"
    return "in_progress" if batch.status in ("validating", "in_progress", "finalizing") else "ended"


def _rfc3339(moment: datetime | None) -> str | None:
    return rfc3339(moment) if moment is not None else None


def batch_object(batch: BatchRecord, counts: dict[str, int], results_url: str) -> Json:
    """Anthropic's `message_batch`; `counts` are the lines by status (`store.count_lines`)."""
    status = processing_status(batch)
    # Before its lines are read (or when it ended first) a batch's requests are all unfinished.
    unfinished = counts.get("pending", 0) + counts.get("running", 0) if counts else batch.total
    ended = status == "ended"
    request_counts = {
        "processing": 0 if ended else unfinished,
        "succeeded": counts.get("succeeded", 0),
        "errored": counts.get("failed", 0),
        "canceled": counts.get("cancelled", 0) + (unfinished if ended and batch.status == "cancelled" else 0),
        "expired": counts.get("expired", 0) + (unfinished if ended and batch.status == "expired" else 0),
    }
    times = batch.times
    ended_at = times.get("completed_at") or times.get("cancelled_at") or times.get("expired_at")
    return {
        "id": batch.id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": request_counts,
        "ended_at": _rfc3339(ended_at or times.get("failed_at")),
        "created_at": _rfc3339(times.get("created_at")),
        "expires_at": _rfc3339(times.get("expires_at")),
        "archived_at": None,
        "cancel_initiated_at": _rfc3339(times.get("cancelling_at")),
        "results_url": results_url if status == "ended" else None,
    }


def _errored(status: int, message: str) -> Json:
    kind = ANTHROPIC_ERROR_TYPES.get(status, "api_error")
    return {"type": "errored", "error": {"type": "error", "error": {"type": kind, "message": message}}}


def result_line(line: LineRecord, batch_status: str) -> Json:
    """One line of the results file: succeeded with its message, errored, canceled or expired."""
    if line.status == "succeeded":
        result: Json = {"type": "succeeded", "message": line.response}
    elif line.status == "failed":
        body = line.response if isinstance(line.response, dict) else {}
        found = body.get("error")
        error: Json = found if isinstance(found, dict) else line.error or {}
        message = str(error.get("message") or "The request failed")
        result = _errored(line.status_code or 500, message)
    elif line.status == "expired":  # a provider's batch ran out of time for it
        result = {"type": "expired"}
    elif line.status == "cancelled" or batch_status == "cancelled":
        result = {"type": "canceled"}
    elif batch_status == "expired":
        result = {"type": "expired"}
    else:  # the batch failed as a whole before this request ran
        result = _errored(500, "The batch ended before this request ran")
    return {"custom_id": line.custom_id, "result": result}
