"""Passthrough relays keep a stream's text, not its frames: memory follows the answer's length in
characters, not ~230 bytes of JSON per token, and the text, finish reason and chunk id stay right."""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest

from app.gateway.chat_passthrough import ChatPassthroughRelay
from app.gateway.exchange import Served
from app.gateway.messages_passthrough import MessagesPassthroughRelay
from app.gateway.responses_passthrough import ResponsesPassthroughRelay
from app.gateway.stream_text import StreamText

FRAMES = 4000
SERVED = Served("up", "m")


def _chat(n: int) -> bytes:
    doc = {
        "id": "chatcmpl-abc123",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4.1-mini-2025-04-14",
        "system_fingerprint": "fp_abc",
        "choices": [{"index": 0, "delta": {"content": f"w{n} "}, "logprobs": None, "finish_reason": None}],
    }
    return b"data: " + json.dumps(doc, separators=(",", ":")).encode()


def _messages(n: int) -> bytes:
    doc = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": f"w{n} "}}
    return b"event: content_block_delta\ndata: " + json.dumps(doc).encode()


def _responses(n: int) -> bytes:
    doc = {
        "type": "response.output_text.delta",
        "item_id": "msg_abc123",
        "output_index": 0,
        "content_index": 0,
        "delta": f"w{n} ",
        "sequence_number": n,
    }
    return b"event: response.output_text.delta\ndata: " + json.dumps(doc).encode()


RELAYS: dict[str, tuple[Callable[[], Any], Callable[[int], bytes]]] = {
    "chat": (lambda: ChatPassthroughRelay(SERVED, strip_usage=True), _chat),
    "messages": (lambda: MessagesPassthroughRelay(SERVED), _messages),
    "responses": (lambda: ResponsesPassthroughRelay(SERVED, None), _responses),
}


@pytest.mark.parametrize("dialect", RELAYS)
def test_a_long_stream_keeps_its_text_not_its_frames(dialect: str) -> None:
    make, frame = RELAYS[dialect]
    frames = [frame(n) for n in range(FRAMES)]
    relay = make()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        for data in frames:
            relay.feed(data)
        held = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    expected = "".join(f"w{n} " for n in range(FRAMES))
    assert relay.text() == expected
    # The frames are ~1 MB; the text ~27 KB. Keeping the frames (as the relays did) fails this.
    assert held < 4 * len(expected), f"{held} bytes held for {len(expected)} characters"


def test_the_chat_relay_still_knows_the_finish_reason_and_the_chunk_id() -> None:
    relay = ChatPassthroughRelay(SERVED, strip_usage=True)
    relay.feed(_chat(0))
    assert not relay.complete
    last = {"id": "chatcmpl-abc123", "choices": [{"index": 0, "delta": {}, "finish_reason": "length"}]}
    relay.feed(b"data: " + json.dumps(last).encode())  # spaced JSON, as Python's json.dumps writes it
    assert relay.complete  # a finish reason without [DONE] still ends the answer whole
    relay.feed(b'data: {"id":"x","choices":"not a list"}')  # a frame of another shape adds nothing
    assert (relay.text(), relay.finish_reason()) == ("w0 ", "length")
    # A recovery continues the stream under the same chunk id.
    out = relay.continue_chunks([{"choices": [{"index": 0, "delta": {"content": "more"}}]}])
    assert b'"id":"chatcmpl-abc123"' in out and b'"content":"more"' in out


def test_stream_text_keeps_the_order_across_its_joins() -> None:
    text = StreamText()
    pieces = [f"{n}," for n in range(1000)]
    for piece in pieces:
        text.add(piece)
    assert text.text() == "".join(pieces)
