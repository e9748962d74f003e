"""The stream tap: pieces kept for the cache, text shown to hooks, the terminator held for the end check."""

from __future__ import annotations

from collections.abc import AsyncIterator

from app.errors import ContentBlockedError, GatewayError
from app.gateway.answer_text import answer_text, delta_text, split_terminator
from app.gateway.stream_tap import tap_stream

ROLE = b'data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}\n\n'


def piece(text: str) -> bytes:
    return b'data: {"choices":[{"index":0,"delta":{"content":"' + text.encode() + b'"}}]}\n\n'


DONE = b"data: [DONE]\n\n"


class Source:
    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.closed = False

    async def gen(self) -> AsyncIterator[bytes]:
        try:
            for p in self.pieces:
                yield p
        finally:
            self.closed = True


async def run(pieces: list[bytes], **kwargs: object) -> tuple[bytes, list[object]]:
    finished: list[object] = []
    source = Source(pieces)
    stream = tap_stream(
        source.gen(),
        endpoint="chat.completions",
        dialect="openai",
        finish=lambda kept, blocked: finished.append((kept, blocked)),
        **kwargs,  # type: ignore[arg-type]
    )
    out = b"".join([p async for p in stream])
    assert source.closed
    return out, finished


async def test_capture_keeps_every_piece_and_passes_them_unchanged() -> None:
    pieces = [ROLE, piece("a"), piece("b"), DONE]
    out, finished = await run(pieces, capture=True)
    assert out == b"".join(pieces)
    assert finished == [(pieces, None)]


async def test_a_chunk_check_stops_before_the_offending_piece() -> None:
    async def check(text: str) -> GatewayError | None:
        return ContentBlockedError("no") if "bad" in text else None

    out, finished = await run([ROLE, piece("ok "), piece("bad"), piece("more"), DONE], on_chunk=check, capture=True)
    assert b"ok " in out and b"bad" not in out and b"more" not in out and b"[DONE]" not in out
    assert out.endswith(b'"code":"CONTENT_BLOCKED","param":null}}\n\n')
    kept, blocked = finished[0]  # type: ignore[misc]
    assert kept is None and isinstance(blocked, ContentBlockedError)


async def test_the_end_check_sees_the_whole_text_while_the_terminator_waits() -> None:
    seen: list[str] = []

    async def check(text: str) -> GatewayError | None:
        seen.append(text)
        return ContentBlockedError("no") if text == "bad" else None

    out, _ = await run([ROLE, piece("b"), piece("ad"), DONE], at_end=check)
    assert seen == ["bad"] and b"[DONE]" not in out and b"CONTENT_BLOCKED" in out
    out, _ = await run([ROLE, piece("go"), piece("od"), DONE], at_end=check)
    assert out.endswith(DONE) and seen[-1] == "good"


async def test_a_stream_without_a_terminator_skips_the_end_check() -> None:
    async def check(text: str) -> GatewayError | None:
        raise AssertionError("the stream failed on its own; nothing to judge")

    failed = b'data: {"error":{"message":"upstream broke"}}\n\n'
    out, finished = await run([ROLE, piece("x"), failed], at_end=check)
    assert out.endswith(failed) and finished[0] == (None, None)


def test_text_extraction_per_dialect() -> None:
    assert answer_text("chat.completions", b'{"choices":[{"message":{"content":"hi"}}]}') == "hi"
    assert (
        answer_text(
            "messages", b'{"content":[{"type":"text","text":"a"},{"type":"tool_use"},{"type":"text","text":"b"}]}'
        )
        == "ab"
    )
    responses = b'{"output":[{"type":"message","content":[{"type":"output_text","text":"r"}]}]}'
    assert answer_text("responses", responses) == "r"
    assert answer_text("embeddings", b"{}") == "" and answer_text("chat.completions", b"not json") == ""
    frame = (
        b'event: content_block_delta\ndata: {"type":"content_block_delta","delta":{"type":"text_delta","text":"x"}}\n\n'
    )
    assert delta_text("messages", frame * 2) == "xx"
    assert (
        delta_text(
            "responses",
            b'event: response.output_text.delta\ndata: {"type":"response.output_text.delta","delta":"y"}\n\n',
        )
        == "y"
    )
    stop = b'event: message_stop\ndata: {"type":"message_stop"}\n\n'
    assert split_terminator("messages", frame + stop) == (frame, stop)
    assert split_terminator("chat.completions", piece("[DONE] is text") + DONE) == (piece("[DONE] is text"), DONE)
