"""The chat passthrough relay renames the model in every frame, remembering the upstream's spelling."""

from __future__ import annotations

import json
import re

import pytest

from app.gateway.chat_passthrough import ChatPassthroughRelay
from app.gateway.exchange import Served

_MODEL = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')
PUBLIC = b'"model":"fake/gpt-x"'


def _chunk(model: str, text: str, *, spaced: bool = False) -> bytes:
    doc = {"id": "c1", "object": "chat.completion.chunk", "model": model, "choices": [{"delta": {"content": text}}]}
    return ("data: " + json.dumps(doc, separators=(", ", ": ") if spaced else (",", ":"))).encode()


STREAMS = {
    "steady": [_chunk("gpt-x", f"t{n}") for n in range(5)],
    "model changes mid-stream": [_chunk("gpt-x", "a"), _chunk("gpt-x-0613", "b"), _chunk("gpt-x", "c")],
    "spaced json": [_chunk("gpt-x", "a", spaced=True), _chunk("gpt-x", "b"), _chunk("gpt-x", "c", spaced=True)],
    "escaped quote in the name": [_chunk('we"ird', "a"), _chunk('we"ird', "b")],
    "the old name inside the text": [_chunk("gpt-x", "a"), _chunk("other", '"model":"gpt-x"')],
    "no model member": [_chunk("gpt-x", "a"), b'data: {"id":"c1","choices":[{"delta":{"content":"b"}}]}'],
    "an earlier model member": [
        _chunk("gpt-x", "a"),
        b'data: {"meta":{"model":"m2"},"model":"gpt-x","choices":[{"delta":{"content":"b"}}]}',
    ],
}


@pytest.mark.parametrize("frames", STREAMS.values(), ids=STREAMS.keys())
def test_each_frame_names_the_public_model_exactly_where_the_pattern_would(frames: list[bytes]) -> None:
    relay = ChatPassthroughRelay(Served("fake", "gpt-x"), strip_usage=True)
    for frame in frames:
        expected = b"data: " + _MODEL.sub(lambda _: PUBLIC, frame[6:], count=1) + b"\n\n"
        assert relay.feed(frame) == expected
        json.loads(relay.feed(frame)[6:])  # still JSON
