"""Each same-dialect stream relay names the public model exactly as written, whatever its characters."""

from __future__ import annotations

import json

import pytest

from app.gateway.chat_passthrough import ChatPassthroughRelay
from app.gateway.exchange import Served
from app.gateway.messages_passthrough import MessagesPassthroughRelay
from app.gateway.responses_passthrough import ResponsesPassthroughRelay

# Model ids are free text: JSON escapes a backslash and a quote, and a `re.sub` template would unescape
# the backslash (the public name read as `team/gpt<backspace>x"y`).
SERVED = Served("team", 'gpt\\bx"y')
PUBLIC = 'team/gpt\\bx"y'


def _data(frame: bytes) -> dict[str, object]:
    line = next(line for line in frame.split(b"\n") if line.startswith(b"data: "))
    doc = json.loads(line[6:])
    assert isinstance(doc, dict)
    return doc


@pytest.mark.parametrize(
    ("relay", "frame", "path"),
    [
        (
            lambda: ChatPassthroughRelay(SERVED, strip_usage=True),
            b'data: {"id":"c1","model":"up","choices":[{"delta":{"content":"a"}}]}',
            ("model",),
        ),
        (
            lambda: MessagesPassthroughRelay(SERVED),
            b'event: message_start\ndata: {"type":"message_start","message":{"id":"m","model":"up","usage":{}}}',
            ("message", "model"),
        ),
        (
            lambda: ResponsesPassthroughRelay(SERVED, None),
            b'event: response.created\ndata: {"type":"response.created","response":{"id":"r","model":"up"}}',
            ("response", "model"),
        ),
    ],
    ids=["chat", "messages", "responses"],
)
def test_the_public_model_is_written_literally(relay: object, frame: bytes, path: tuple[str, ...]) -> None:
    out = relay().feed(frame)  # type: ignore[operator]
    value: object = _data(out)
    for name in path:
        assert isinstance(value, dict)
        value = value[name]
    assert value == PUBLIC
