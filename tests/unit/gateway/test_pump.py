"""The stream pump: what one upstream read brings leaves as one piece, and nothing relayed is lost on an error."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from app.gateway.chat_passthrough import ChatPassthroughRelay
from app.gateway.exchange import Served, UpstreamStreamError
from app.gateway.sse import SSESplitter
from app.gateway.streaming import _pump
from app.gateway.upstream import _InprocResponse


def _chunk(text: str) -> bytes:
    return b'data: {"id":"c1","model":"up","choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


async def _pieces(reads: list[bytes], out: list[bytes]) -> None:
    relay = ChatPassthroughRelay(Served("p", "m"), strip_usage=False)
    start = SimpleNamespace(splitter=SSESplitter())
    async for piece in _pump(_InprocResponse(200, b"", reads), start, relay, 1.0):  # type: ignore[arg-type]
        out.append(piece)


async def test_a_burst_read_leaves_as_one_piece_and_single_frames_as_their_own() -> None:
    out: list[bytes] = []
    await _pieces([_chunk("a"), _chunk("b") + _chunk("c") + _chunk("d"), b"data: [DONE]\n\n"], out)
    assert len(out) == 3
    assert out[1].count(b"data: ") == 3 and b'"model":"p/m"' in out[1]  # rewritten frame by frame
    assert out[2] == b"data: [DONE]\n\n"


async def test_frames_before_an_error_frame_in_the_same_read_reach_the_caller_first() -> None:
    out: list[bytes] = []
    error = b'data: {"error":{"message":"overloaded"}}\n\n'
    with pytest.raises(UpstreamStreamError):
        await _pieces([_chunk("a") + _chunk("b") + error], out)
    assert len(out) == 1 and out[0].count(b"data: ") == 2
