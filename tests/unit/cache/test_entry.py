"""Cached streams: the chat usage chunk is kept apart and given back only to callers who ask for it."""

from __future__ import annotations

import json

from app.accounting.events import Usage
from app.cache.entry import CachedAnswer, decode_entry, encode_entry, replay_pieces, split_usage

CHUNK = (
    b'data: {"id":"c1","object":"chat.completion.chunk","created":7,"model":"p/m",'
    + b'"choices":[{"delta":{"content":"%s"}}]}'
)
CHUNK += b"\n\n"
HEAD, BODY = CHUNK % b"a", CHUNK % b"b"
USAGE = b'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}\n\n'
DONE = b"data: [DONE]\n\n"


def entry(pieces: list[bytes], usage_frame: bytes | None = None) -> CachedAnswer:
    usage = Usage(prompt_tokens=3, completion_tokens=2, cached_tokens=1)
    return CachedAnswer(provider="p", model="m", usage=usage, cost_usd=0.5, pieces=pieces, usage_frame=usage_frame)


def test_the_usage_chunk_is_taken_out_whether_alone_or_inside_a_piece() -> None:
    assert split_usage([HEAD, BODY, USAGE, DONE]) == ([HEAD, BODY, DONE], USAGE)
    assert split_usage([HEAD, BODY + USAGE + DONE]) == ([HEAD, BODY + DONE], USAGE)
    assert split_usage([HEAD, BODY, DONE]) == ([HEAD, BODY, DONE], None)
    mentions = b'data: {"choices":[{"delta":{"content":"the \\"usage\\" word"}}]}\n\n'
    assert split_usage([mentions, DONE]) == ([mentions, DONE], None)


def test_replay_gives_the_original_usage_chunk_back_before_done_only_when_asked() -> None:
    kept = entry([HEAD, BODY, DONE], USAGE)
    assert replay_pieces(kept, chat_usage=False) == [HEAD, BODY, DONE]
    assert replay_pieces(kept, chat_usage=True) == [HEAD, BODY, USAGE, DONE]
    joined = entry([HEAD, BODY + DONE], USAGE)
    assert replay_pieces(joined, chat_usage=True) == [HEAD, BODY + USAGE + DONE]


def test_a_usage_chunk_is_built_from_the_stream_when_the_first_caller_did_not_ask() -> None:
    pieces = replay_pieces(entry([HEAD, BODY, DONE]), chat_usage=True)
    assert pieces[0:2] == [HEAD, BODY] and pieces[-1] == DONE
    chunk = json.loads(pieces[2].removeprefix(b"data: "))
    assert (chunk["id"], chunk["created"], chunk["model"], chunk["choices"]) == ("c1", 7, "p/m", [])
    assert chunk["usage"]["total_tokens"] == 5
    assert chunk["usage"]["prompt_tokens_details"] == {"cached_tokens": 1}


def test_entries_round_trip_and_unreadable_ones_are_misses() -> None:
    kept = entry([HEAD, DONE], USAGE)
    assert decode_entry(encode_entry(kept)) == kept
    whole = CachedAnswer(provider="p", model="m", usage=Usage(), cost_usd=0.0, body=b"{}")
    assert decode_entry(encode_entry(whole)) == whole and not whole.stream
    assert decode_entry(b"\x00garbage") is None
