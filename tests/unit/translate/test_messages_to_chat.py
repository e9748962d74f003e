"""Anthropic Messages client over a Chat Completions upstream: request, reply and stream translation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import UnsupportedFeatureError
from app.gateway.exchange import UpstreamStreamError
from app.translate.messages_to_chat import (
    ChatToMessagesStream,
    chat_response_to_messages,
    messages_request_to_chat,
    ping_event,
)

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"


def _req(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"model": "route/x", "max_tokens": 256, "messages": list(messages), **params}


# -- requests: golden -------------------------------------------------------------------------------


def test_text_system_and_params() -> None:
    body = _req(
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": [{"type": "text", "text": "Hello!"}]},
        {"role": "user", "content": [{"type": "text", "text": "How are you?"}]},
        system=[
            {"type": "text", "text": "Be brief.", "cache_control": {"type": "ephemeral"}},
            {"type": "text", "text": "Use English."},
        ],
        temperature=0.3,
        top_p=0.8,
        top_k=40,
        stop_sequences=["END"],
        stream=True,
        metadata={"user_id": "u-1"},
    )
    assert messages_request_to_chat(body) == {
        "model": "route/x",
        "messages": [
            {"role": "system", "content": "Be brief.\n\nUse English."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ],
        "max_tokens": 256,
        "temperature": 0.3,
        "top_p": 0.8,
        "stop": ["END"],
        "stream": True,
        "stream_options": {"include_usage": True},
        "user": "u-1",
    }


def test_images_and_documents() -> None:
    body = _req(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/a.jpg"}},
                {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBE"}},
            ],
        }
    )
    assert messages_request_to_chat(body)["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "Look"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/a.jpg"}},
                {"type": "file", "file": {"filename": "document.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
            ],
        }
    ]


def test_tool_use_history_and_results() -> None:
    body = _req(
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": [
                {"type": "thinking", "thinking": "Two calls.", "signature": "sig"},
                {"type": "text", "text": "Checking."},
                {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Tokyo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_1", "content": "18C"},
                {
                    "type": "tool_result",
                    "tool_use_id": "toolu_2",
                    "content": [{"type": "text", "text": "rain"}],
                    "is_error": True,
                },
                {"type": "text", "text": "Thanks"},
            ],
        },
        tools=[{"name": "get_weather", "description": "Weather", "input_schema": {"type": "object"}}],
        tool_choice={"type": "any", "disable_parallel_tool_use": True},
    )
    out = messages_request_to_chat(body)
    assert out["messages"] == [
        {"role": "user", "content": "Weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [
                {
                    "id": "toolu_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                },
                {
                    "id": "toolu_2",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'},
                },
            ],
        },
        {"role": "tool", "tool_call_id": "toolu_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "toolu_2", "content": "Error: rain"},
        {"role": "user", "content": "Thanks"},
    ]
    assert out["tools"] == [
        {
            "type": "function",
            "function": {"name": "get_weather", "description": "Weather", "parameters": {"type": "object"}},
        }
    ]
    assert out["tool_choice"] == "required"
    assert out["parallel_tool_calls"] is False


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ({"type": "auto"}, "auto"),
        ({"type": "any"}, "required"),
        ({"type": "none"}, "none"),
        ({"type": "tool", "name": "f"}, {"type": "function", "function": {"name": "f"}}),
    ],
)
def test_tool_choice(choice: dict[str, Any], expected: Any) -> None:
    tools = [{"name": "f", "input_schema": {"type": "object"}}]
    out = messages_request_to_chat(_req({"role": "user", "content": "x"}, tools=tools, tool_choice=choice))
    assert out["tool_choice"] == expected
    assert "parallel_tool_calls" not in out


@pytest.mark.parametrize(
    ("thinking", "effort"),
    [
        ({"type": "enabled", "budget_tokens": 1024}, "low"),
        ({"type": "enabled", "budget_tokens": 4096}, "medium"),
        ({"type": "enabled", "budget_tokens": 16384}, "high"),
        ({"type": "disabled"}, None),
    ],
)
def test_thinking_becomes_reasoning_effort(thinking: dict[str, Any], effort: str | None) -> None:
    out = messages_request_to_chat(_req({"role": "user", "content": "x"}, thinking=thinking))
    assert out.get("reasoning_effort") == effort


def test_output_config() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}}
    body = _req(
        {"role": "user", "content": "x"},
        output_config={"effort": "max", "format": {"type": "json_schema", "schema": schema}},
    )
    out = messages_request_to_chat(body)
    assert out["reasoning_effort"] == "xhigh"
    assert out["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": schema, "strict": True},
    }


@pytest.mark.parametrize(
    ("params", "feature"),
    [
        ({"tools": [{"type": "web_search_20250305", "name": "web_search"}]}, "server tool 'web_search_20250305'"),
        ({"mcp_servers": [{"type": "url", "url": "https://x", "name": "x"}]}, "mcp_servers"),
    ],
)
def test_unsupported_request_features(params: dict[str, Any], feature: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        messages_request_to_chat(_req({"role": "user", "content": "x"}, **params))
    assert str(info.value).startswith(f"{feature} is not supported when model 'route/x'")


def test_images_inside_tool_results_are_refused() -> None:
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}}
    body = _req(
        {"role": "user", "content": "x"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f", "input": {}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": [image]}]},
    )
    with pytest.raises(UnsupportedFeatureError, match="image blocks inside tool_result"):
        messages_request_to_chat(body)


# -- replies ----------------------------------------------------------------------------------------


def _completion(message: dict[str, Any], finish: str = "stop", **usage: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-AB12",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-x",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150, **usage},
    }


def test_text_reply_with_cached_usage() -> None:
    chat = _completion({"content": "Hello"}, prompt_tokens_details={"cached_tokens": 100})
    assert chat_response_to_messages(chat, "openai/gpt-x") == {
        "id": "msg_AB12",
        "type": "message",
        "role": "assistant",
        "model": "openai/gpt-x",
        "content": [{"type": "text", "text": "Hello"}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": 20,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 100,
            "output_tokens": 30,
        },
    }
    Message.model_validate(chat_response_to_messages(chat, "openai/gpt-x"))


def test_reasoning_and_tool_calls_reply() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "call_2", "type": "function", "function": {"name": "g", "arguments": "{not json"}},
    ]
    chat = _completion({"content": None, "reasoning_content": "Think.", "tool_calls": calls}, "tool_calls")
    reply = chat_response_to_messages(chat, "p/m")
    assert reply["content"] == [
        {"type": "thinking", "thinking": "Think.", "signature": ""},
        {"type": "tool_use", "id": "call_1", "name": "f", "input": {"a": 1}},
        {"type": "tool_use", "id": "call_2", "name": "g", "input": {}},
    ]
    assert reply["stop_reason"] == "tool_use"
    Message.model_validate(reply)


@pytest.mark.parametrize(
    ("finish", "calls", "stop"),
    [
        ("stop", False, "end_turn"),
        ("length", False, "max_tokens"),
        ("tool_calls", True, "tool_use"),
        ("content_filter", False, "refusal"),
        ("stop", True, "tool_use"),
        (None, False, "end_turn"),
    ],
)
def test_stop_reason_mapping(finish: str | None, calls: bool, stop: str) -> None:
    message: dict[str, Any] = {"content": "x"}
    if calls:
        message["tool_calls"] = [{"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]
    assert chat_response_to_messages(_completion(message, finish), "p/m")["stop_reason"] == stop


# -- streams ----------------------------------------------------------------------------------------


def _chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {
        "id": "chatcmpl-S1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": "m",
        "choices": choices,
        **extra,
    }


def test_stream_golden_event_order() -> None:
    chunks = [
        _chunk({"role": "assistant", "content": ""}),
        _chunk({"reasoning_content": "Hm"}),
        _chunk({"content": "Hi"}),
        _chunk({"content": "!"}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_A", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            }
        ),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"a":'}}]}),
        _chunk({"tool_calls": [{"index": 0, "function": {"arguments": " 1}"}}]}),
        _chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "call_B", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]
            }
        ),
        _chunk({}, "tool_calls"),
        _chunk(
            usage={
                "prompt_tokens": 50,
                "completion_tokens": 9,
                "total_tokens": 59,
                "prompt_tokens_details": {"cached_tokens": 10},
            }
        ),
    ]
    stream = ChatToMessagesStream(public_model="openai/m", input_tokens=42)
    events = [e for c in chunks for e in stream.feed(c)]
    assert not stream.done
    events += stream.finish()

    def delta(index: int, body: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_delta", {"type": "content_block_delta", "index": index, "delta": body}

    def start(index: int, block: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        return "content_block_start", {"type": "content_block_start", "index": index, "content_block": block}

    def stop(index: int) -> tuple[str, dict[str, Any]]:
        return "content_block_stop", {"type": "content_block_stop", "index": index}

    assert events == [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_S1",
                    "type": "message",
                    "role": "assistant",
                    "model": "openai/m",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": {
                        "input_tokens": 42,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 1,
                    },
                },
            },
        ),
        start(0, {"type": "thinking", "thinking": "", "signature": ""}),
        delta(0, {"type": "thinking_delta", "thinking": "Hm"}),
        stop(0),
        start(1, {"type": "text", "text": ""}),
        delta(1, {"type": "text_delta", "text": "Hi"}),
        delta(1, {"type": "text_delta", "text": "!"}),
        stop(1),
        start(2, {"type": "tool_use", "id": "call_A", "name": "f", "input": {}}),
        delta(2, {"type": "input_json_delta", "partial_json": '{"a":'}),
        delta(2, {"type": "input_json_delta", "partial_json": " 1}"}),
        stop(2),
        start(3, {"type": "tool_use", "id": "call_B", "name": "g", "input": {}}),
        delta(3, {"type": "input_json_delta", "partial_json": "{}"}),
        stop(3),
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": "tool_use", "stop_sequence": None},
                "usage": {
                    "input_tokens": 40,
                    "cache_creation_input_tokens": 0,
                    "cache_read_input_tokens": 10,
                    "output_tokens": 9,
                },
            },
        ),
        ("message_stop", {"type": "message_stop"}),
    ]
    assert stream.done
    assert stream.text == "Hi!"
    assert stream.usage is not None
    assert stream.usage["prompt_tokens"] == 50
    assert stream.finish() == []


def test_stream_tool_calls_without_index_are_told_apart_by_id() -> None:
    stream = ChatToMessagesStream(public_model="p/m")
    events = []
    for call_id, name in (("call_A", "f"), ("call_B", "g")):
        events += stream.feed(
            _chunk({"tool_calls": [{"id": call_id, "type": "function", "function": {"name": name, "arguments": "{}"}}]})
        )
    events += stream.finish()
    blocks = [(d["index"], d["content_block"]["id"]) for name, d in events if name == "content_block_start"]
    assert blocks == [(0, "call_A"), (1, "call_B")]
    assert [d["index"] for name, d in events if name == "content_block_stop"] == [0, 1]


def test_stream_with_a_given_id_and_no_chunks_still_closes() -> None:
    stream = ChatToMessagesStream(public_model="p/m", message_id="msg_given")
    events = stream.finish()
    assert [name for name, _ in events] == ["message_start", "message_delta", "message_stop"]
    assert events[0][1]["message"]["id"] == "msg_given"
    assert events[1][1]["delta"] == {"stop_reason": "end_turn", "stop_sequence": None}


def test_stream_error_chunk_raises() -> None:
    stream = ChatToMessagesStream(public_model="p/m")
    with pytest.raises(UpstreamStreamError, match="boom"):
        stream.feed({"error": {"message": "boom", "type": "server_error"}})


def test_ping_event() -> None:
    assert ping_event() == ("ping", {"type": "ping"})


# -- property: the stream accumulates (with the SDK's own accumulator) to the non-stream reply ------------

_args = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5) | st.booleans(), max_size=3)


def _split(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


@st.composite
def _answers(draw: st.DrawFn) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A chat.completion and the chunks an OpenAI upstream would stream for it."""
    reasoning = draw(st.lists(st.text(min_size=1, max_size=6), max_size=3))
    text = draw(st.lists(st.text(min_size=1, max_size=6), max_size=4))
    calls = [(f"call_{i}", f"tool{i}", draw(_args), draw(st.integers(1, 4))) for i in range(draw(st.integers(0, 3)))]
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter"]))
    prompt = draw(st.integers(0, 10**6))
    cached = draw(st.integers(0, prompt))
    usage = {
        "prompt_tokens": prompt,
        "completion_tokens": draw(st.integers(0, 10**5)),
        "prompt_tokens_details": {"cached_tokens": cached},
    }
    chunks = [_chunk({"role": "assistant", "content": ""})]
    chunks += [_chunk({"reasoning_content": r}) for r in reasoning]
    chunks += [_chunk({"content": t}) for t in text]
    tool_calls = []
    for i, (call_id, name, args, pieces) in enumerate(calls):
        arguments = json.dumps(args)
        tool_calls.append({"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}})
        head = {"index": i, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(_chunk({"tool_calls": [head]}))
        chunks += [
            _chunk({"tool_calls": [{"index": i, "function": {"arguments": p}}]}) for p in _split(arguments, pieces)
        ]
    chunks += [_chunk({}, finish), _chunk(usage=usage)]
    message: dict[str, Any] = {"content": "".join(text) or None, "reasoning_content": "".join(reasoning) or None}
    if tool_calls:
        message["tool_calls"] = tool_calls
    completion = _completion(message, finish, **usage)
    completion["id"] = "chatcmpl-S1"
    return completion, chunks


@settings(max_examples=100, deadline=None)
@given(answer=_answers())
def test_stream_accumulates_to_the_whole_reply(answer: tuple[dict[str, Any], list[dict[str, Any]]]) -> None:
    completion, chunks = answer
    stream = ChatToMessagesStream(public_model="p/m", input_tokens=7)
    events = [e for c in chunks for e in stream.feed(c)] + stream.finish()
    snapshot = None
    json_bufs: dict[int, bytes] = {}
    for _, data in events:
        snapshot = accumulate_event(event=data, current_snapshot=snapshot, json_bufs=json_bufs)
    assert snapshot is not None
    whole = chat_response_to_messages(completion, "p/m")
    got = Message.model_validate(snapshot.model_dump()).model_dump(exclude_none=True)
    expected = Message.model_validate(whole).model_dump(exclude_none=True)
    assert got == expected
    assert [name for name, _ in events][-2:] == ["message_delta", "message_stop"]
    assert stream.text == "".join(b["text"] for b in whole["content"] if b["type"] == "text")
