"""Input lines -> what runs and what fails, and the output/error line shapes."""

from __future__ import annotations

import json
from typing import Any

from app.batches.lines import read_lines, to_jsonl
from app.batches.output import render
from app.batches.store import LineRecord
from app.errors import InvalidModelError
from app.gateway.snapshot import ResolvedModel

ENDPOINT = "/v1/chat/completions"


def _check(body: dict[str, Any]) -> ResolvedModel:
    if body.get("model") == "unknown":
        raise InvalidModelError("Unknown model 'unknown'", param="model")
    return ResolvedModel(str(body["model"]), None, ())


def _line(custom_id: Any, **extra: Any) -> bytes:
    doc = {"custom_id": custom_id, "method": "POST", "url": ENDPOINT, "body": {"model": "m"}, **extra}
    return json.dumps(doc).encode()


def test_read_lines_sorts_runnable_from_failed() -> None:
    content = b"\n".join(
        [
            _line("a"),
            b"",
            b"{broken",
            _line("a"),
            _line(""),
            _line("b", url="/v1/embeddings"),
            _line("c", method="GET"),
            _line("d", body=[1]),
            _line("e", body={"model": "unknown"}),
            b"[]",
            _line("f"),
        ]
    )
    specs = read_lines(content, ENDPOINT, _check)
    assert [s.line_no for s in specs] == [0, 2, 3, 4, 5, 6, 7, 8, 9, 10]  # blank lines are skipped
    assert [s.custom_id for s in specs if s.valid] == ["a", "f"]
    errors = {s.line_no: s.error["message"] for s in specs if s.error}
    assert "not valid JSON" in errors[2] and "used by an earlier line" in errors[3]
    assert "non-empty string" in errors[4] and "batch's endpoint" in errors[5]
    assert "POST" in errors[6] and "'body' must be a JSON object" in errors[7] and "JSON object" in errors[9]
    rejected = next(s for s in specs if s.custom_id == "e")
    assert rejected.status_code == 400 and rejected.response is not None
    assert rejected.response["error"]["code"] == "INVALID_MODEL" and rejected.error is None


def _record(status: str, **extra: Any) -> LineRecord:
    values: dict[str, Any] = {
        "id": "batch_req_1",
        "line_no": 0,
        "custom_id": "x",
        "body": None,
        "status": status,
        "task_id": None,
        "attempts": 0,
        "status_code": None,
        "request_id": None,
        "response": None,
        "error": None,
        **extra,
    }
    return LineRecord(**values)


def test_render_openai_shapes() -> None:
    ok = render(_record("succeeded", status_code=200, request_id="task_1", response={"id": "c"}))
    assert ok == (
        True,
        {
            "id": "batch_req_1",
            "custom_id": "x",
            "response": {"status_code": 200, "request_id": "task_1", "body": {"id": "c"}},
            "error": None,
        },
    )
    http = render(_record("failed", status_code=502, response={"error": {"message": "down"}}))
    assert http is not None and not http[0] and http[1]["response"]["status_code"] == 502
    bad = render(_record("failed", error={"code": "invalid_request", "message": "no"}))
    assert bad is not None and bad[1]["response"] is None and bad[1]["error"]["code"] == "invalid_request"
    assert render(_record("pending")) is None and render(_record("cancelled")) is None
    assert to_jsonl([{"a": 1}, {"b": 2}]) == b'{"a":1}\n{"b":2}\n'
