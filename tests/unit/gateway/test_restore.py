"""Putting placeholders' values back in answers: whole bodies, and streams whose deltas split them."""

from __future__ import annotations

import json

from app.gateway.restore import Restorer, restore_body

MAPPING = {"[EMAIL_1]": "jo@example.com", "[SECRET_1]": 'line one\nline "two"'}


def chat(text: str | None) -> bytes:
    delta = {} if text is None else {"content": text}
    return b"data: " + json.dumps({"choices": [{"index": 0, "delta": delta}]}).encode() + b"\n\n"


def texts(raw: bytes) -> str:
    out = []
    for frame in raw.split(b"\n\n"):
        if frame.startswith(b"data: {"):
            doc = json.loads(frame[6:])
            out.append(doc["choices"][0]["delta"].get("content") or "")
    return "".join(out)


def test_a_whole_answer_gets_its_values_json_escaped() -> None:
    body = json.dumps({"content": "to [EMAIL_1], key [SECRET_1]"}).encode()
    assert json.loads(restore_body(body, MAPPING))["content"] == 'to jo@example.com, key line one\nline "two"'


def test_a_placeholder_split_over_chat_deltas_is_held_back_and_completed() -> None:
    restorer = Restorer("chat.completions", MAPPING)
    pieces = [chat(""), chat("write to [EM"), chat("AIL"), chat("_1] now ["), chat("ok] [E"), chat(None)]
    sent = [restorer.feed(p) for p in pieces]
    assert texts(b"".join(sent)) == "write to jo@example.com now [ok] [E"
    assert sent[0] == pieces[0]  # untouched frames go out byte for byte
    assert "[" not in texts(sent[1]) and texts(sent[2]) == ""
    assert texts(sent[5]) == "[E"  # what was held goes out before the finish chunk, in a delta of its own


def test_comments_and_pings_do_not_release_what_is_held() -> None:
    restorer = Restorer("messages", MAPPING)

    def delta(text: str) -> bytes:
        data = {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": text}}
        return b"event: content_block_delta\ndata: " + json.dumps(data).encode() + b"\n\n"

    out = restorer.feed(delta("mail [EMAI"))
    out += restorer.feed(b": keep-alive\n\n")
    out += restorer.feed(b'event: ping\ndata: {"type": "ping"}\n\n')
    out += restorer.feed(delta("L_1]."))
    out += restorer.feed(b'event: content_block_stop\ndata: {"type":"content_block_stop","index":0}\n\n')
    got = "".join(
        json.loads(f.split(b"data: ", 1)[1])["delta"]["text"] for f in out.split(b"\n\n") if b"text_delta" in f
    )
    assert got == "mail jo@example.com."


def test_responses_events_with_the_whole_text_are_restored_too() -> None:
    restorer = Restorer("responses", MAPPING)
    delta = {"type": "response.output_text.delta", "delta": "hi [EMAIL_1]"}
    done = {"type": "response.output_text.done", "text": "hi [EMAIL_1]"}
    out = restorer.feed(b"event: response.output_text.delta\ndata: " + json.dumps(delta).encode() + b"\n\n")
    out += restorer.feed(b"event: response.output_text.done\ndata: " + json.dumps(done).encode() + b"\n\n")
    assert out.count(b"jo@example.com") == 2 and b"[EMAIL_1]" not in out


def test_a_stream_that_ends_while_holding_sends_the_rest() -> None:
    restorer = Restorer("chat.completions", MAPPING)
    assert texts(restorer.feed(chat("price [1] [SEC"))) == "price [1] "
    assert texts(restorer.finish()) == "[SEC"
