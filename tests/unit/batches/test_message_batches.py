"""Anthropic's message batch shapes from batch and line rows: counts by state, result lines by outcome."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.batches.anthropic_native import line_outcome
from app.batches.message_batches import batch_object, input_lines, result_line
from app.batches.store import BatchRecord, LineRecord
from app.errors import InvalidRequestError

CREATED = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def batch(status: str, total: int = 4, **times: datetime) -> BatchRecord:
    return BatchRecord(
        id="msgbatch_1",
        key_id="k",
        endpoint="/v1/messages",
        input_file_id="file_1",
        completion_window="24h",
        status=status,
        total=total,
        times={"created_at": CREATED, **times},
    )


def line(status: str, **fields: Any) -> LineRecord:
    values: dict[str, Any] = {
        "id": "l",
        "line_no": 0,
        "custom_id": "c",
        "body": {},
        "task_id": None,
        "attempts": 1,
        "status_code": None,
        "request_id": None,
        "response": None,
        "error": None,
    }
    return LineRecord(status=status, **{**values, **fields})


def test_counts_follow_the_lines_and_the_batchs_end() -> None:
    running = batch_object(batch("in_progress"), {"pending": 1, "running": 1, "succeeded": 1, "failed": 1}, "u")
    assert running["processing_status"] == "in_progress" and running["results_url"] is None
    assert running["request_counts"] == {"processing": 2, "succeeded": 1, "errored": 1, "canceled": 0, "expired": 0}
    assert batch_object(batch("validating"), {}, "u")["request_counts"]["processing"] == 4  # lines not read yet
    stamp = datetime(2026, 11, 23, 12, 5, tzinfo=UTC)
    cancelled = batch_object(
        batch("cancelled", cancelled_at=stamp), {"pending": 2, "cancelled": 1, "succeeded": 1}, "u"
    )
    assert cancelled["request_counts"] == {"processing": 0, "succeeded": 1, "errored": 0, "canceled": 3, "expired": 0}
    assert (cancelled["processing_status"], cancelled["ended_at"], cancelled["results_url"]) == (
        "ended",
        "2026-11-23T12:05:00Z",
        "u",
    )
    expired = batch_object(batch("expired", expired_at=stamp), {"pending": 3, "succeeded": 1}, "u")
    assert expired["request_counts"]["expired"] == 3
    assert batch_object(batch("cancelled"), {}, "u")["request_counts"]["canceled"] == 4  # ended before validation
    assert batch_object(batch("cancelling"), {"running": 1}, "u")["processing_status"] == "canceling"


def test_result_lines_by_outcome() -> None:
    message = {"type": "message", "content": []}
    assert result_line(line("succeeded", response=message), "completed")["result"] == {
        "type": "succeeded",
        "message": message,
    }
    limited = result_line(line("failed", status_code=429, response={"error": {"message": "slow down"}}), "completed")
    assert limited["result"]["error"]["error"] == {"type": "rate_limit_error", "message": "slow down"}
    down = result_line(line("failed", status_code=502, response={"error": {"message": "all failed"}}), "completed")
    assert down["result"]["error"]["error"]["type"] == "api_error"
    assert result_line(line("cancelled"), "cancelled")["result"] == {"type": "canceled"}
    assert result_line(line("pending"), "cancelled")["result"] == {"type": "canceled"}
    assert result_line(line("pending"), "expired")["result"] == {"type": "expired"}


def test_requests_become_batch_lines() -> None:
    content = input_lines({"requests": [{"custom_id": "a-1", "params": {"model": "m", "max_tokens": 5}}]})
    (only,) = [json.loads(x) for x in content.splitlines()]
    assert only == {
        "custom_id": "a-1",
        "method": "POST",
        "url": "/v1/messages",
        "body": {"model": "m", "max_tokens": 5},
    }
    with pytest.raises(InvalidRequestError, match=r"requests\.1\.custom_id 'a' is used twice"):
        input_lines({"requests": [{"custom_id": "a", "params": {}}, {"custom_id": "a", "params": {}}]})


def test_a_providers_results_become_lines() -> None:
    message = {"type": "message", "model": "claude-fake", "content": [], "usage": {"input_tokens": 3}}
    values, answer = line_outcome({"type": "succeeded", "message": message}, "claude/claude-fake")
    assert values["status"] == "succeeded" and values["response"]["model"] == "claude/claude-fake"
    assert answer == (None, 200, values["response"])
    error = {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}}
    values, answer = line_outcome({"type": "errored", "error": error}, "p/m")
    assert (values["status_code"], values["response"]["error"]["type"], answer) == (
        529,
        "overloaded_error",
        (None, 529, None),
    )
    assert line_outcome({"type": "expired"}, "p/m") == ({"status": "expired"}, None)
    assert line_outcome({"type": "canceled"}, "p/m") == ({"status": "cancelled"}, None)
    assert result_line(line("expired"), "completed")["result"] == {"type": "expired"}


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=70),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["custom_id", "params", "stream", "requests", "x"]), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(doc=st.dictionaries(st.sampled_from(["requests", "x"]), _JSON, max_size=2))
def test_any_create_body_is_lines_or_a_400(doc: dict[str, Any]) -> None:
    try:
        content = input_lines(doc)
    except InvalidRequestError as exc:
        refused: InvalidRequestError = exc
        assert refused.status_code == 400 and refused.detail  # either outcome is fine; no other
        return
    lines = [json.loads(x) for x in content.splitlines()]
    assert len(lines) == len(doc["requests"]) and all(line["url"] == "/v1/messages" for line in lines)
