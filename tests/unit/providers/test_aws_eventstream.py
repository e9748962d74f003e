"""The event stream decoder and Bedrock -> Anthropic SSE splitter, against the fake's encoder and botocore's parser."""

from __future__ import annotations

import base64
import json
import struct
import time
import uuid
import zlib
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

from app.gateway.sse import SSESplitter, frame_data, frame_event
from app.providers.aws_eventstream import (
    MAX_MESSAGE_LENGTH,
    BedrockStreamSplitter,
    EventStreamError,
    EventStreamReader,
    decode_headers,
    error_type,
)
from tests.fakes import anthropic
from tests.fakes.aws_eventstream import (
    chunk_message,
    encode_header,
    encode_message,
    event_message,
    exception_message,
)
from tests.fakes.bedrock import FakeBedrock

START = b'{"type":"message_start","message":{"id":"msg_bdrk_01","type":"message","role":"assistant","content":[]}}'
DELTA = b'{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \xc3\xa9 \\"x\\""}}'
STOP = b'{"type":"message_stop","amazon-bedrock-invocationMetrics":{"inputTokenCount":9,"outputTokenCount":3}}'
STREAM = chunk_message(START) + chunk_message(DELTA) + chunk_message(STOP)
EXPECTED = [
    b"event: message_start\ndata: " + START,
    b"event: content_block_delta\ndata: " + DELTA,
    b"event: message_stop\ndata: " + STOP,
]

ALL_TYPES: list[tuple[str, int, Any]] = [
    ("t", 0, True),
    ("f", 1, False),
    ("byte", 2, -7),
    ("short", 3, -30000),
    ("int", 4, 2_000_000_000),
    ("long", 5, -(2**62)),
    ("bytes", 6, b"\x00\xffraw"),
    ("string", 7, "h\u00e9llo"),
    ("time", 8, 1_700_000_000_123),
    ("uuid", 9, uuid.UUID("0f8fad5b-d9cb-469f-a165-70867728950e")),
]


def feed_all(splitter: BedrockStreamSplitter, data: bytes, size: int) -> list[bytes]:
    return [frame for i in range(0, len(data), size) for frame in splitter.feed(data[i : i + size])]


def test_chunk_events_become_the_anthropic_sse_frames_byte_for_byte() -> None:
    assert BedrockStreamSplitter().feed(STREAM) == EXPECTED


@pytest.mark.parametrize("size", [1, 2, 7, 13, 64, 1000])
def test_any_split_gives_the_same_frames(size: int) -> None:
    splitter = BedrockStreamSplitter()
    assert feed_all(splitter, STREAM, size) == EXPECTED
    assert splitter.rest() == b""


def test_frames_read_like_sse_frames() -> None:
    sse = SSESplitter().feed(b"".join(frame + b"\n\n" for frame in EXPECTED))
    assert sse == EXPECTED
    frames = BedrockStreamSplitter().feed(STREAM)
    assert [frame_event(f) for f in frames] == [b"message_start", b"content_block_delta", b"message_stop"]
    assert json.loads(frame_data(frames[1]) or b"")["delta"]["text"] == 'Hi \u00e9 "x"'


def test_a_whole_fake_stream_round_trips() -> None:
    doc = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "Say hello"}]}
    message = anthropic.answer_message(doc, "m", {"chunks": 3})
    encoded = b"".join(FakeBedrock()._messages(message, {"chunks": 3}, time.monotonic()))
    frames = feed_all(BedrockStreamSplitter(), encoded, 5)
    want = [f.rstrip(b"\n") for f in anthropic.stream_frames(message, {"chunks": 3}) if b"event: ping" not in f]
    assert [frame_event(f) for f in frames] == [frame_event(f) for f in want]
    assert [json.loads(frame_data(f) or b"") for f in frames[:-1]] == [
        json.loads(frame_data(f) or b"") for f in want[:-1]
    ]
    stop = json.loads(frame_data(frames[-1]) or b"")
    metrics = stop["amazon-bedrock-invocationMetrics"]
    assert metrics["inputTokenCount"] == message["usage"]["input_tokens"]
    assert metrics["outputTokenCount"] == message["usage"]["output_tokens"]


def test_other_events_pass_as_named_frames_and_empty_ones_are_skipped() -> None:
    data = event_message("initial-response", b"") + chunk_message(START) + event_message("metadata", b'{\n"a":1}')
    assert BedrockStreamSplitter().feed(data) == [*EXPECTED[:1], b'event: metadata\ndata: { "a":1}']


def test_padding_member_and_newlines_in_the_json() -> None:
    pretty = b'{\n  "type": "ping"\r\n}'
    frames = BedrockStreamSplitter().feed(chunk_message(pretty, padding="xyz"))
    assert frames == [b'event: ping\ndata: {   "type": "ping"  }']


def test_botocore_reads_the_fake_encoding() -> None:
    buffer = EventStreamBuffer()
    buffer.add_data(STREAM + encode_message(ALL_TYPES, b"payload"))
    messages = list(buffer)
    assert len(messages) == 4
    assert messages[0].headers == {
        ":event-type": "chunk",
        ":content-type": "application/json",
        ":message-type": "event",
    }
    assert base64.b64decode(json.loads(messages[1].payload)["bytes"]) == DELTA
    last = messages[3]
    assert last.payload == b"payload"
    expected = {name: value for name, _, value in ALL_TYPES}
    expected["uuid"] = expected["uuid"].bytes  # botocore gives a uuid's raw bytes
    assert last.headers == expected


def test_every_header_value_type_parses() -> None:
    [(headers, payload)] = EventStreamReader().feed(encode_message(ALL_TYPES, b"\x00\x01"))
    assert payload == b"\x00\x01"
    expected = {name: value for name, _, value in ALL_TYPES}
    expected["time"] = datetime(2023, 11, 14, 22, 13, 20, 123000, tzinfo=UTC)
    assert headers == expected
    assert [type(headers[n]) for n in ("t", "long", "bytes", "uuid")] == [bool, int, bytes, uuid.UUID]


def test_empty_headers_and_payload() -> None:
    assert EventStreamReader().feed(encode_message([], b"")) == [({}, b"")]


@pytest.mark.parametrize("bad", [b"\x05ab", b"\x01a\x07\x00\x09abc", b"\x01a\x0a", b"\x01a\x09\x00\x01"])
def test_malformed_headers_raise(bad: bytes) -> None:
    with pytest.raises(EventStreamError):
        decode_headers(bad)


def corrupt(data: bytes, index: int) -> bytes:
    return data[:index] + bytes([data[index] ^ 0x01]) + data[index + 1 :]


def ends_broken(frames: list[bytes], match: str) -> list[bytes]:
    """The frames before the error event that a broken stream ends with (its message matching `match`)."""
    error = error_of(frames[-1])
    assert error["type"] == "api_error" and "event stream is broken" in error["message"]
    assert match in error["message"]
    return frames[:-1]


@pytest.mark.parametrize("index", [0, 3, 5, 9])
def test_prelude_corruption_ends_the_stream_with_an_error_event(index: int) -> None:
    with pytest.raises(EventStreamError, match="prelude CRC"):
        EventStreamReader().feed(corrupt(STREAM, index))
    splitter = BedrockStreamSplitter()
    assert ends_broken(splitter.feed(corrupt(STREAM, index)), "prelude CRC") == []
    assert splitter.feed(STREAM) == []  # nothing is read after the break


@pytest.mark.parametrize("where", ["header", "payload", "crc"])
def test_message_corruption_ends_the_stream_with_an_error_event(where: str) -> None:
    message = chunk_message(DELTA)
    index = {"header": 14, "payload": len(message) - 10, "crc": len(message) - 1}[where]
    splitter = BedrockStreamSplitter()
    assert splitter.feed(chunk_message(START)) == EXPECTED[:1]
    assert ends_broken(splitter.feed(corrupt(message, index)), "message CRC") == []


def test_frames_before_the_break_in_the_same_read_are_kept() -> None:
    good, bad = chunk_message(START), corrupt(chunk_message(DELTA), 20)
    assert ends_broken(BedrockStreamSplitter().feed(good + bad), "CRC") == EXPECTED[:1]
    reader = EventStreamReader()
    with pytest.raises(EventStreamError) as raised:
        reader.feed(good + bad)
    assert len(raised.value.before) == 1
    assert reader.rest() == bad
    assert len(reader.feed(good)) == 1  # the buffer is still usable (no view left pinning it)


def prelude(total: int, headers_length: int) -> bytes:
    head = struct.pack(">II", total, headers_length)
    return head + struct.pack(">I", zlib.crc32(head))


@pytest.mark.parametrize(
    ("total", "headers_length", "match"),
    [
        (MAX_MESSAGE_LENGTH + 1, 0, "length"),
        (2**32 - 1, 0, "length"),
        (15, 0, "length"),
        (100, 85, "headers length"),
        (MAX_MESSAGE_LENGTH, 200 * 1024, "headers length"),
    ],
)
def test_impossible_lengths_are_refused_from_the_prelude_alone(total: int, headers_length: int, match: str) -> None:
    with pytest.raises(EventStreamError, match=match):
        EventStreamReader().feed(prelude(total, headers_length))
    ends_broken(BedrockStreamSplitter().feed(prelude(total, headers_length)), match)


def test_incomplete_message_waits_and_rest_returns_it() -> None:
    splitter = BedrockStreamSplitter()
    cut = len(chunk_message(START)) + 20
    assert splitter.feed(STREAM[:cut]) == EXPECTED[:1]
    assert splitter.rest() == STREAM[len(chunk_message(START)) : cut]
    assert splitter.rest() == b""


def test_a_chunk_that_is_not_base64_json_breaks_the_stream() -> None:
    ends_broken(BedrockStreamSplitter().feed(event_message("chunk", b'{"bytes":"%%%"}')), "chunk")
    bad_json = json.dumps({"bytes": base64.b64encode(b"not json").decode()}).encode()
    ends_broken(BedrockStreamSplitter().feed(event_message("chunk", bad_json)), "chunk")


def error_of(frame: bytes) -> dict[str, Any]:
    assert frame.startswith(b"event: error\ndata: ")
    doc = msgspec.json.decode(frame_data(frame) or b"")
    assert doc["type"] == "error"
    assert set(doc) == {"type", "error"}
    return dict(doc["error"])


@pytest.mark.parametrize(
    ("aws", "kind"),
    [
        ("throttlingException", "rate_limit_error"),
        ("ThrottlingException", "rate_limit_error"),
        ("serviceUnavailableException", "overloaded_error"),
        ("modelStreamErrorException", "overloaded_error"),
        ("validationException", "invalid_request_error"),
        ("modelTimeoutException", "timeout_error"),
        ("internalServerException", "api_error"),
        ("somethingNewException", "api_error"),
    ],
)
def test_exception_messages_become_anthropic_errors(aws: str, kind: str) -> None:
    assert error_type(aws) == kind
    frames = BedrockStreamSplitter().feed(chunk_message(START) + exception_message(aws, "Too many tokens"))
    assert frames[0] == EXPECTED[0]
    assert error_of(frames[1]) == {"type": kind, "message": "Too many tokens"}


def test_exception_message_fallbacks() -> None:
    headers = [(":exception-type", 7, "modelStreamErrorException"), (":message-type", 7, "exception")]
    capital = encode_message(headers, b'{"Message":"capitalised","originalStatusCode":529}')
    empty = encode_message(headers, b"")
    frames = BedrockStreamSplitter().feed(capital + empty)
    assert [error_of(f) for f in frames] == [
        {"type": "overloaded_error", "message": "capitalised"},
        {"type": "overloaded_error", "message": "modelStreamErrorException"},
    ]


def test_error_messages_use_the_code_and_message_headers() -> None:
    headers = [(":message-type", 7, "error"), (":error-code", 7, "ThrottlingException"), (":error-message", 7, "slow")]
    no_message = [(":message-type", 7, "error"), (":error-code", 7, "InternalFailure")]
    frames = BedrockStreamSplitter().feed(encode_message(headers, b"") + encode_message(no_message, b""))
    assert [error_of(f) for f in frames] == [
        {"type": "rate_limit_error", "message": "slow"},
        {"type": "api_error", "message": "InternalFailure"},
    ]


def test_fake_stream_error_behaviour_ends_in_the_mapped_exception() -> None:
    doc = {"model": "m", "max_tokens": 100, "messages": [{"role": "user", "content": "Hi"}]}
    for exception, kind in (
        ("throttlingException", "rate_limit_error"),
        ("modelStreamErrorException", "overloaded_error"),
    ):
        b = {"stream_error": 3, "stream_exception": exception}
        message = anthropic.answer_message(doc, "m", b)
        frames = BedrockStreamSplitter().feed(b"".join(FakeBedrock()._messages(message, b, time.monotonic())))
        assert [frame_event(f) for f in frames] == [
            b"message_start",
            b"content_block_start",
            b"content_block_delta",
            b"error",
        ]
        assert error_of(frames[-1])["type"] == kind


def test_encode_header_refuses_unknown_types() -> None:
    with pytest.raises(ValueError, match=r"0\.\.9"):
        encode_header("x", 10, 1)


def test_large_stream_fed_in_small_pieces_is_linear_enough() -> None:
    big = chunk_message(json.dumps({"type": "content_block_delta", "text": "x" * 2_000_000}).encode())
    data = big * 3
    started = time.perf_counter()
    frames = feed_all(BedrockStreamSplitter(), data, 4096)
    assert len(frames) == 3
    assert time.perf_counter() - started < 5
