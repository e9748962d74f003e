"""The SSE splitter and frame parsing on awkward chunk boundaries."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from app.gateway.sse import SSESplitter, frame_data, frame_event, make_frame


def test_frames_split_across_chunks_and_crlf() -> None:
    s = SSESplitter()
    assert s.feed(b'data: {"a"') == []
    assert s.feed(b":1}\n\ndata: [DO") == [b'data: {"a":1}']
    assert s.feed(b"NE]\r\n\r\n") == [b"data: [DONE]"]
    assert s.rest() == b""


def test_event_and_multiline_data() -> None:
    frame = b'event: message_start\ndata: {"x":\ndata: 1}'
    assert frame_event(frame) == b"message_start"
    assert frame_data(frame) == b'{"x":\n1}'
    assert frame_data(b": keep-alive") is None
    assert frame_event(b"data: x") is None
    assert make_frame(b"{}", "ping") == b"event: ping\ndata: {}\n\n"


@given(
    st.lists(
        st.binary(min_size=1, max_size=40).filter(lambda b: b"\n" not in b and b"\r" not in b), min_size=1, max_size=20
    ),
    st.data(),
)
@settings(max_examples=100, deadline=None)
def test_any_chunking_yields_the_same_frames(payloads: list[bytes], data: st.DataObject) -> None:
    stream = b"".join(b"data: " + p + b"\n\n" for p in payloads)
    cuts = sorted(data.draw(st.sets(st.integers(1, max(1, len(stream) - 1)), max_size=10)))
    pieces = [stream[i:j] for i, j in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    s = SSESplitter()
    frames = [f for piece in pieces for f in s.feed(piece)]
    assert [frame_data(f) for f in frames] == payloads
