"""Redaction patterns, the request-context stamp, and the JSON and text line formats."""

from __future__ import annotations

import io
import json
import logging
import threading
import time
from collections.abc import Iterator

import pytest

from app.observability.context import RequestState, current_request
from app.observability.logging import (
    AccessLine,
    JsonFormatter,
    LogWriter,
    RedactingFilter,
    RequestContextFilter,
    TextFormatter,
    log_access,
    redact,
    resolve_format,
)
from tests.unit.observability.captured import captured_log

KEY = "sk-poly-test-abcdefghijklmnop0123"


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        (f"caller key {KEY} refused", KEY),
        ("upstream key sk-proj-AbCdEf0123456789xyz", "AbCdEf0123456789xyz"),
        ("anthropic sk-ant-api03-abcdefghijklmnop", "api03-abcdefghijklmnop"),
        ("Authorization: Bearer opaque.token-value_123", "opaque.token-value_123"),
        ("authorization: Basic dXNlcjpwYXNzd29yZA==", "dXNlcjpwYXNzd29yZA=="),
        ("x-api-key: plain-opaque-credential", "plain-opaque-credential"),
        ("{'X-Api-Key': 'opaque-credential-42'}", "opaque-credential-42"),
        ('{"authorization": "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}', "c2lnbmF0dXJl"),
        ("GET https://example.test/v1beta/models?alt=sse&key=AIzaSyA-1234567890abcdefghij", "1234567890abcdef"),
        ("url https://x.test/path?key=opaque-query-secret", "opaque-query-secret"),
        ("admin key pr-admin-0123456789abcdef", "0123456789abcdef"),
        ("api_key=opaque-kv-secret other=1", "opaque-kv-secret"),
        ("bearer lowercase-token-value", "lowercase-token-value"),
    ],
)
def test_redact_masks_credentials(text: str, secret: str) -> None:
    masked = redact(text)
    assert secret not in masked
    assert "***" in masked


@pytest.mark.parametrize(
    "text",
    [
        "POST /v1/chat/completions 200 12.3ms",
        "probe of provider openai failed: HTTP 503",
        "task tsk_0123456789 finished",
        "route/fast -> openai/gpt-4.1-mini",
    ],
)
def test_redact_leaves_ordinary_text_alone(text: str) -> None:
    assert redact(text) == text


def _record(msg: str, *args: object, exc: bool = False, **extra: object) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise RuntimeError(f"upstream said Authorization: Bearer {KEY}")
        except RuntimeError as error:
            exc_info = (type(error), error, error.__traceback__)
    record = logging.LogRecord("polyroute.test", logging.ERROR, __file__, 1, msg, args, exc_info)
    record.__dict__.update(extra)
    return record


def test_the_filter_masks_message_arguments_extras_and_exception_text() -> None:
    record = _record("calling %s with %r", "openai", {"x-api-key": KEY}, exc=True, path=f"/v1?key={KEY}")
    assert RedactingFilter().filter(record)
    line = JsonFormatter().format(record)
    assert KEY not in line
    doc = json.loads(line)
    assert doc["message"].startswith("calling openai with {'x-api-key': '")
    assert "Traceback" in doc["exc"] and "RuntimeError" in doc["exc"]
    assert doc["path"] == "/v1?key=***"


def test_the_filter_masks_configured_secrets_whatever_their_shape() -> None:
    record = _record("admin key was %s", "correct-horse-battery-staple")
    RedactingFilter(["correct-horse-battery-staple", None, ""]).filter(record)
    assert record.getMessage() == "admin key was ***"


@pytest.fixture
def in_request() -> Iterator[RequestState]:
    state = RequestState("req_abc", "0af7651916cd43dd8448eb211c80319c", "chat.completions")
    token = current_request.set(state)
    yield state
    current_request.reset(token)


def test_records_carry_the_request_and_trace_id(in_request: RequestState) -> None:
    record = _record("inside")
    RequestContextFilter().filter(record)
    doc = json.loads(JsonFormatter().format(record))
    assert (doc["request_id"], doc["trace_id"]) == ("req_abc", in_request.trace_id)
    text = TextFormatter().format(record)
    assert text.endswith(f"inside request_id=req_abc trace_id={in_request.trace_id}")


def test_records_outside_a_request_have_no_ids() -> None:
    record = _record("outside")
    RequestContextFilter().filter(record)
    doc = json.loads(JsonFormatter().format(record))
    assert "request_id" not in doc
    assert "request_id" not in TextFormatter().format(record)


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_auto_format_is_text_on_a_terminal_and_json_elsewhere() -> None:
    assert resolve_format("auto", _Terminal()) == "text"
    assert resolve_format("auto", io.StringIO()) == "json"
    assert resolve_format("json", _Terminal()) == "json"
    assert resolve_format("text", io.StringIO()) == "text"


def test_configure_logging_routes_records_through_the_listener(in_request: RequestState) -> None:
    with captured_log(secrets=["opaque-admin-key-value"]) as out:
        logging.getLogger("polyroute.test").warning("key %s and %s", KEY, "opaque-admin-key-value")
        logging.getLogger("polyroute.access").info("POST /v1/chat/completions 200 1.0ms")
        logging.getLogger("httpx").info("HTTP Request: GET http://probe")
        logging.getLogger("piccolo.engine.base").info("Running Sqlite version 3.4")
        logging.getLogger("piccolo.engine.base").warning("Connection pooling is not supported for sqlite.")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["logger"] for line in lines] == ["polyroute.test", "polyroute.access", "piccolo.engine.base"]
    assert lines[0]["message"] == "key sk-*** and ***"
    assert all(line["request_id"] == "req_abc" for line in lines)


def _line(path: str) -> AccessLine:
    return AccessLine(1_700_000_000.25, "POST", path, 200, 1.5, "fakeai", "gpt-fake", None, "req_1", "trace_1")


def test_access_lines_are_built_by_the_writer_in_order_with_the_other_records() -> None:
    with captured_log() as out:
        logging.getLogger("polyroute.test").warning("before")
        log_access(_line(f"/v1/chat?key={KEY}"))
        logging.getLogger("polyroute.test").warning("after")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["message"][:6] for line in lines] == ["before", "POST /", "after"]
    access = lines[1]
    assert access["logger"] == "polyroute.access" and access["ts"] == "2023-11-14T22:13:20.250Z"
    assert access["message"] == "POST /v1/chat?key=*** 200 1.5ms"  # masked like any record
    assert (access["request_id"], access["trace_id"], access["status"], access["model"]) == (
        "req_1",
        "trace_1",
        200,
        "gpt-fake",
    )


def test_without_our_handler_an_access_line_is_an_ordinary_record(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="polyroute.access"):
        log_access(_line("/v1/messages"))
    [record] = [r for r in caplog.records if r.name == "polyroute.access"]
    assert record.getMessage() == "POST /v1/messages 200 1.5ms"
    assert record.__dict__["provider"] == "fakeai"


class _CountingWriter(LogWriter):
    def __init__(self, stream: io.StringIO) -> None:
        self.drains = 0
        super().__init__(stream, TextFormatter(), RedactingFilter(), interval_s=0.02)

    def drain(self) -> None:
        self.drains += 1
        super().drain()


def test_an_idle_log_writer_sleeps_until_a_record_arrives_and_writes_it_at_once() -> None:
    stream = io.StringIO()
    writer = _CountingWriter(stream)
    try:
        time.sleep(0.5)  # 25 intervals: the writer used to wake for each of them
        idle_drains = writer.drains
        assert idle_drains == 0, "the writer worked while nothing was logged"
        record = logging.LogRecord("polyroute.test", logging.WARNING, __file__, 1, "after a quiet spell", None, None)
        writer.put(record)
        deadline = time.monotonic() + 5
        while "after a quiet spell" not in stream.getvalue() and time.monotonic() < deadline:
            time.sleep(0.005)
        assert "after a quiet spell" in stream.getvalue()
        for n in range(50):  # records keep coming: written in batches, none left behind
            writer.put(logging.LogRecord("polyroute.test", logging.WARNING, __file__, 1, f"busy {n}", None, None))
            time.sleep(0.002)
    finally:
        writer.stop()
    assert all(f"busy {n}\n" in stream.getvalue() for n in range(50))
    assert writer.drains < 50  # batched: fewer writes than records


class _ThreadNames(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return f"{record.name} built on {record.threadName}"


def test_an_access_line_becomes_a_log_record_on_the_writer_thread_not_the_callers() -> None:
    """The request path hands over a tuple; building the stdlib record (19-46 µs) is the writer's job."""
    stream = io.StringIO()
    writer = LogWriter(stream, _ThreadNames(), RedactingFilter(), interval_s=0.01)
    try:
        writer.put(_line("/v1/chat/completions"))
        writer.put(logging.LogRecord("polyroute.test", logging.WARNING, __file__, 1, "made here", None, None))
    finally:
        writer.stop()
    caller = threading.current_thread().name
    assert stream.getvalue().splitlines() == [
        "polyroute.access built on polyroute-log-writer",
        f"polyroute.test built on {caller}",
    ]


class _ViaRecord(logging.Formatter):
    """Wraps one of ours but hides `format_access`, so the writer takes the LogRecord path."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self.inner = inner

    def format(self, record: logging.LogRecord) -> str:
        return self.inner.format(record)


ACCESS_CASES = [
    _line("/v1/chat/completions"),
    AccessLine(1_700_000_123.999, "POST", f"/v1beta/x?key={KEY}", 429, 0.04, None, None, "RATE_LIMITED", KEY, ""),
    AccessLine(1_700_000_000.0, "GET", '/v1/odd"path\\', 405, 12.0, "p", "m", "METHOD_NOT_ALLOWED", "req_2", "t"),
    AccessLine(1_700_000_000.5, "POST", "/v1/embeddings", 200, 3.25, "prov", "model-x", None, "", ""),
]


@pytest.mark.parametrize("formatter", [JsonFormatter, TextFormatter])
def test_access_lines_written_straight_read_exactly_as_through_a_log_record(formatter: type[logging.Formatter]) -> None:
    """The writer formats our access lines without a LogRecord; any other formatter still gets one."""
    outputs = []
    for wrap in (False, True):
        stream = io.StringIO()
        fmt = formatter()
        writer = LogWriter(stream, _ViaRecord(fmt) if wrap else fmt, RedactingFilter(["opaque-configured-1"]))
        try:
            for line in ACCESS_CASES:
                writer.put(line)
            writer.put(ACCESS_CASES[0]._replace(path="/v1/x?note=opaque-configured-1"))
        finally:
            writer.stop()
        outputs.append(stream.getvalue())
    straight, via_record = outputs
    assert straight == via_record
    assert KEY not in straight and "opaque-configured-1" not in straight
    assert len(straight.splitlines()) == len(ACCESS_CASES) + 1
    if formatter is JsonFormatter:
        rows = [json.loads(text) for text in straight.splitlines()]
        assert rows[1]["request_id"] == "sk-***" and rows[1]["path"] == "/v1beta/x?key=***"
        assert rows[2]["path"] == '/v1/odd"path\\'
