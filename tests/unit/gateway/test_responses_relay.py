"""The native Responses relay: a stream that breaks ends the way OpenAI ends one."""

from __future__ import annotations

import json

from app.gateway.exchange import Served
from app.gateway.responses_passthrough import ResponsesPassthroughRelay


def _frame(event: dict[str, object]) -> bytes:
    return b"event: " + str(event["type"]).encode() + b"\ndata: " + json.dumps(event).encode()


def _parse(raw: bytes) -> tuple[str, dict[str, object]]:
    event_line, data_line = raw.strip().split(b"\n")
    return event_line.removeprefix(b"event: ").decode(), json.loads(data_line.removeprefix(b"data: "))


def test_a_broken_stream_ends_with_response_failed_after_the_last_number() -> None:
    relay = ResponsesPassthroughRelay(Served("native", "gpt-x"), None)
    created = {"id": "resp_1", "object": "response", "status": "in_progress", "model": "gpt-x", "output": []}
    relay.feed(_frame({"type": "response.created", "sequence_number": 0, "response": created}))
    relay.feed(_frame({"type": "response.output_text.delta", "sequence_number": 7, "delta": "Hel"}))
    name, event = _parse(relay.fail("upstream broke the connection"))
    assert name == event["type"] == "response.failed"
    assert event["sequence_number"] == 8
    response = event["response"]
    assert isinstance(response, dict)
    assert response["id"] == "resp_1" and response["model"] == "native/gpt-x"  # the caller's model name
    assert response["status"] == "failed"
    assert response["error"] == {"code": "server_error", "message": "upstream broke the connection"}


def test_a_stream_broken_before_its_response_was_announced_ends_with_an_error_event() -> None:
    relay = ResponsesPassthroughRelay(Served("native", "gpt-x"), None)
    name, event = _parse(relay.fail("stalled"))
    assert name == "error"
    assert event == {"type": "error", "code": "server_error", "message": "stalled", "param": None, "sequence_number": 0}
