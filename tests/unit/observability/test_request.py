"""The inference endpoint wrapper: ids on every record, refusals counted, unexpected errors logged masked."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.accounting.events import UsageEvent
from app.api.inference.endpoint import inference_app
from app.errors import AuthenticationError
from app.gateway.call import Call, Parsed, Reply
from app.observability.context import record_event
from app.observability.metrics import exposition
from tests.unit.observability.captured import captured_log

SECRET = "sk-poly-unit-planted-0123456789abcdef"
TRACEPARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"


def _parse(raw: bytes) -> Parsed:
    raise AssertionError("the handle under test does not parse")


async def _run(handle: Any, headers: dict[str, str], send: Any = None) -> list[dict[str, Any]]:
    """Drive the wrapper with one request; what it sent (or `send`, when given, sees it instead)."""
    app = inference_app(endpoint="chat.completions", dialect="openai", parse=_parse, handle=handle, max_body_bytes=1024)
    scope = {
        "type": "http",
        "method": "POST",
        "path": "/v1/chat/completions",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    sent: list[dict[str, Any]] = []
    messages = [{"type": "http.request", "body": b"{}", "more_body": False}]

    async def receive() -> dict[str, Any]:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def record(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send or record)
    return sent


def _rejected(reason: str) -> float:
    for family in text_string_to_metric_families(exposition().decode()):
        for sample in family.samples:
            if sample.name == "polyroute_rejected_total" and sample.labels == {"reason": reason}:
                return sample.value
    return 0.0


async def test_every_record_of_a_request_carries_its_ids_and_no_secret() -> None:
    async def handle(call: Call) -> Reply:
        logging.getLogger("polyroute.test").warning("handling with %s", call.headers["authorization"])
        raise RuntimeError(f"upstream echoed Authorization: Bearer {SECRET}")

    before = _rejected("INTERNAL_ERROR")
    with captured_log() as out:
        headers = {"authorization": f"Bearer {SECRET}", "x-request-id": "req-unit-1", "traceparent": TRACEPARENT}
        sent = await _run(handle, headers)
    assert sent[0]["status"] == 500
    assert _rejected("INTERNAL_ERROR") == before + 1  # it never became a usage event
    assert SECRET not in out.getvalue()
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["logger"] for r in records] == ["polyroute.test", "polyroute.api", "polyroute.access"]
    assert {r["request_id"] for r in records} == {"req-unit-1"}
    assert {r["trace_id"] for r in records} == {"0af7651916cd43dd8448eb211c80319c"}
    assert "Traceback" in records[1]["exc"] and "RuntimeError" in records[1]["exc"]
    assert records[2]["status"] == 500 and records[2]["error_code"] == "INTERNAL_ERROR"


async def test_only_refusals_without_a_usage_event_count_as_rejected() -> None:
    async def refuse(call: Call) -> Reply:
        raise AuthenticationError("Unknown API key")

    async def accounted(call: Call) -> Reply:
        record_event(UsageEvent(id=call.request_id, ts=0.0, endpoint=call.endpoint, status=401))
        raise AuthenticationError("Key revoked after the pipeline accounted it")

    before = _rejected("AUTHENTICATION_ERROR")
    assert (await _run(refuse, {}))[0]["status"] == 401
    assert (await _run(accounted, {}))[0]["status"] == 401
    assert _rejected("AUTHENTICATION_ERROR") == before + 1


async def test_work_left_for_after_the_answer_runs_once_it_is_written_and_before_the_access_line() -> None:
    """The pipeline leaves a whole answer's usage event for later (`Call.after`): the caller's bytes go
    out first, and the access line, which names the provider from that event, comes after it."""
    sent_before: list[int] = []
    sent: list[dict[str, Any]] = []

    def account(call: Call) -> None:
        sent_before.append(len(sent))
        record_event(UsageEvent(id=call.request_id, ts=0.0, endpoint=call.endpoint, status=200, provider="fakeai"))

    async def handle(call: Call) -> Reply:
        assert call.after is not None
        call.after.append(lambda: account(call))
        return Reply(200, [(b"content-type", b"application/json")], b"{}")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    with captured_log() as out:
        await _run(handle, {}, send)
    assert sent_before == [2]  # head and body were out when the event was made
    [access] = [json.loads(line) for line in out.getvalue().splitlines() if "polyroute.access" in line]
    assert access["provider"] == "fakeai" and access["status"] == 200


async def test_work_left_for_after_the_answer_runs_even_when_the_send_fails() -> None:
    done: list[str] = []

    async def handle(call: Call) -> Reply:
        assert call.after is not None
        call.after.append(lambda: done.append("accounted"))
        return Reply(200, [(b"content-type", b"application/json")], b"{}")

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            raise ConnectionResetError("client went away")
        done.append("head sent")

    with pytest.raises(ConnectionResetError):
        await _run(handle, {}, send)
    assert done == ["head sent", "accounted"]
