"""The Realtime events the gateway reads (`response.done`'s usage) or rewrites (`session.update`'s model)."""

from __future__ import annotations

import json

from app.accounting.events import Usage
from app.errors import RateLimitedError
from app.gateway.realtime_frames import error_event, realtime_usage, response_done, rewrite_session_model

USAGE = {
    "total_tokens": 330,
    "input_tokens": 130,
    "output_tokens": 200,
    "input_token_details": {
        "text_tokens": 30,
        "audio_tokens": 100,
        "cached_tokens": 40,
        "cached_tokens_details": {"text_tokens": 20, "audio_tokens": 20},
    },
    "output_token_details": {"text_tokens": 50, "audio_tokens": 150},
}


def test_response_done_gives_the_usage_with_uncached_audio_and_the_status() -> None:
    frame = json.dumps({"type": "response.done", "event_id": "e1", "response": {"status": "cancelled", "usage": USAGE}})
    usage, status = response_done(frame) or (None, None)
    assert status == "cancelled"
    assert usage == Usage(
        prompt_tokens=130, completion_tokens=200, cached_tokens=40, audio_prompt_tokens=80, audio_completion_tokens=150
    )


def test_the_type_is_found_after_the_event_id_too_and_nothing_else_is_decoded() -> None:
    frame = json.dumps({"event_id": "event_abc", "type": "response.done", "response": {"usage": USAGE}})
    assert response_done(frame) is not None
    delta = json.dumps({"type": "response.output_text.delta", "delta": 'say "response.done" please'})
    assert response_done(delta) is None
    assert response_done('{"type": "response.done", broken') is None
    assert response_done('{"type": "response.done"}') == (Usage(), "completed")


def test_malformed_usage_counts_nothing_rather_than_failing() -> None:
    assert realtime_usage(None) == Usage()
    assert realtime_usage({"input_tokens": "many", "input_token_details": []}) == Usage()


def test_session_update_gets_the_upstream_model_and_keeps_the_rest() -> None:
    frame = json.dumps({"type": "session.update", "session": {"model": "voice", "voice": "marin", "type": "realtime"}})
    out = json.loads(rewrite_session_model(frame, "gpt-realtime"))
    assert out == {"type": "session.update", "session": {"model": "gpt-realtime", "voice": "marin", "type": "realtime"}}


def test_frames_that_name_no_model_pass_as_they_are() -> None:
    for frame in (
        json.dumps({"type": "session.update", "session": {"voice": "marin"}}),
        json.dumps({"type": "session.update", "session": "oops"}),
        json.dumps({"type": "input_audio_buffer.append", "audio": "AAAA"}),
        "{not json",
    ):
        assert rewrite_session_model(frame, "gpt-realtime") is frame


def test_error_events_have_the_realtime_shape() -> None:
    event = json.loads(error_event(RateLimitedError("slow down", retry_after=3)))
    assert event["type"] == "error" and event["event_id"].startswith("event_")
    assert event["error"] == {
        "type": "rate_limit_error",
        "code": "RATE_LIMITED",
        "message": "slow down",
        "param": None,
        "event_id": None,
    }
