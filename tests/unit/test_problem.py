"""problem+json bodies in both dialects."""

from __future__ import annotations

import json

from app.api.problem import problem_body, problem_headers, stream_error_event
from app.errors import DailyRequestLimitExceededError, InvalidModelError, UpstreamStatusError


def test_openai_shape() -> None:
    body = json.loads(problem_body(InvalidModelError("Unknown model 'x'", param="model"), "openai", "t" * 32))
    assert body == {
        "type": "/errors/invalid-model",
        "title": "Invalid model",
        "status": 400,
        "detail": "Unknown model 'x'",
        "code": "INVALID_MODEL",
        "trace_id": "t" * 32,
        "error": {
            "message": "Unknown model 'x'",
            "type": "invalid_request_error",
            "code": "INVALID_MODEL",
            "param": "model",
        },
    }


def test_anthropic_shape_and_limit_headers() -> None:
    exc = DailyRequestLimitExceededError("Limit reached", retry_after=12.2)
    body = json.loads(problem_body(exc, "anthropic"))
    assert body["error"] == {
        "type": "rate_limit_error",
        "message": "Limit reached",
        "details": {"error_code": "DAILY_REQUEST_LIMIT_EXCEEDED"},
    }
    headers = dict(problem_headers(exc))
    assert headers[b"retry-after"] == b"13"
    assert headers[b"x-error-code"] == b"DAILY_REQUEST_LIMIT_EXCEEDED"


def test_upstream_errors_keep_status_but_401_becomes_502() -> None:
    assert UpstreamStatusError("bad", upstream_status=422).status_code == 422
    assert UpstreamStatusError("creds", upstream_status=401).status_code == 502
    assert UpstreamStatusError("ctx", upstream_status=400, upstream_code="context_length_exceeded").error_code == (
        "CONTEXT_LENGTH_EXCEEDED"
    )


def test_stream_error_events() -> None:
    exc = InvalidModelError("nope")
    assert stream_error_event(exc, "openai").startswith(b'data: {"error":')
    assert stream_error_event(exc, "anthropic").startswith(b'event: error\ndata: {"type":"error"')
