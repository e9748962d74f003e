"""Chat Completions client over an Anthropic upstream: request, reply and stream translation."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.gateway.exchange import UpstreamStreamError
from app.translate.chat_to_messages import MessagesToChatStream, chat_request_to_messages, messages_response_to_chat
from app.translate.messages_to_chat import messages_request_to_chat

PNG = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk"
WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _chat(*messages: dict[str, Any], **params: Any) -> dict[str, Any]:
    return {"model": "route/x", "messages": list(messages), **params}


# -- requests: golden -------------------------------------------------------------------------------


def test_text_system_and_multi_turn() -> None:
    body = _chat(
        {"role": "system", "content": "Be brief."},
        {"role": "developer", "content": [{"type": "text", "text": "Use English."}]},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello!"},
        {"role": "user", "content": "How are you?"},
        temperature=0.5,
        top_p=0.9,
        stop="END",
        max_tokens=100,
        user="u-1",
        stream=True,
        stream_options={"include_usage": True},
        seed=7,
        frequency_penalty=0.2,
        presence_penalty=0.1,
    )
    assert chat_request_to_messages(body, "claude-x") == {
        "model": "claude-x",
        "system": "Be brief.\n\nUse English.",
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "How are you?"},
        ],
        "max_tokens": 100,
        "temperature": 0.5,
        "top_p": 0.9,
        "stop_sequences": ["END"],
        "metadata": {"user_id": "u-1"},
        "stream": True,
    }


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({}, 4096),
        ({"max_tokens": 50}, 50),
        ({"max_completion_tokens": 70, "max_tokens": 50}, 70),
    ],
)
def test_max_tokens_is_always_sent(params: dict[str, Any], expected: int) -> None:
    out = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, **params), "m")
    assert out["max_tokens"] == expected


def test_stop_list_and_no_system() -> None:
    out = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, stop=["a", "b"]), "m")
    assert out == {
        "model": "m",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 4096,
        "stop_sequences": ["a", "b"],
    }


def test_image_parts_data_and_http() -> None:
    body = _chat(
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "low"}},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.jpg"}},
            ],
        }
    )
    assert chat_request_to_messages(body, "m")["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these?"},
                {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": PNG}},
                {"type": "image", "source": {"type": "url", "url": "https://example.com/cat.jpg"}},
            ],
        }
    ]


def test_pdf_file_part_becomes_a_document() -> None:
    part = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBERi0x"}}
    out = chat_request_to_messages(_chat({"role": "user", "content": [part]}), "m")
    assert out["messages"][0]["content"] == [
        {"type": "document", "source": {"type": "base64", "media_type": "application/pdf", "data": "JVBERi0x"}}
    ]


def test_parallel_tool_calls_and_merged_results() -> None:
    calls = [
        {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_2", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Tokyo"}'}},
    ]
    body = _chat(
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {"role": "assistant", "content": None, "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        {"role": "tool", "tool_call_id": "call_2", "content": [{"type": "text", "text": "25C"}]},
        {"role": "user", "content": "Which is warmer?"},
        tools=[WEATHER_TOOL],
        tool_choice="required",
        parallel_tool_calls=False,
    )
    out = chat_request_to_messages(body, "m")
    assert out["messages"] == [
        {"role": "user", "content": "Weather in Paris and Tokyo?"},
        {
            "role": "assistant",
            "content": [
                {"type": "tool_use", "id": "call_1", "name": "get_weather", "input": {"city": "Paris"}},
                {"type": "tool_use", "id": "call_2", "name": "get_weather", "input": {"city": "Tokyo"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "call_1", "content": "18C"},
                {"type": "tool_result", "tool_use_id": "call_2", "content": "25C"},
                {"type": "text", "text": "Which is warmer?"},
            ],
        },
    ]
    assert out["tools"] == [
        {
            "name": "get_weather",
            "description": "Current weather",
            "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        }
    ]
    assert out["tool_choice"] == {"type": "any", "disable_parallel_tool_use": True}


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        ("auto", {"type": "auto"}),
        ("none", {"type": "none"}),
        ("required", {"type": "any"}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"type": "tool", "name": "get_weather"}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any]) -> None:
    out = chat_request_to_messages(
        _chat({"role": "user", "content": "hi"}, tools=[WEATHER_TOOL], tool_choice=choice), "m"
    )
    assert out["tool_choice"] == expected


def test_tool_without_parameters_gets_an_object_schema_and_strict() -> None:
    tool = {"type": "function", "function": {"name": "now", "strict": True}}
    out = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, tools=[tool]), "m")
    assert out["tools"] == [{"name": "now", "input_schema": {"type": "object", "properties": {}}, "strict": True}]
    assert "tool_choice" not in out


def test_turns_are_merged_opened_by_user_and_prefill_trimmed() -> None:
    body = _chat(
        {"role": "assistant", "content": "Welcome!"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "The answer is "},
    )
    assert chat_request_to_messages(body, "m")["messages"] == [
        {"role": "user", "content": "."},
        {"role": "assistant", "content": "Welcome!"},
        {"role": "user", "content": [{"type": "text", "text": "one"}, {"type": "text", "text": "two"}]},
        {"role": "assistant", "content": "The answer is"},
    ]


def test_reasoning_content_in_history_is_dropped() -> None:
    body = _chat(
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "a", "reasoning_content": "thought"},
        {"role": "user", "content": "q2"},
    )
    assert chat_request_to_messages(body, "m")["messages"][1] == {"role": "assistant", "content": "a"}


def test_json_schema_becomes_output_config() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "answer", "schema": schema, "strict": True}}
    out = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, response_format=fmt), "m")
    assert out["output_config"] == {"format": {"type": "json_schema", "schema": schema}}
    text = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, response_format={"type": "text"}), "m")
    assert "output_config" not in text


@pytest.mark.parametrize(
    ("effort", "max_tokens", "budget", "expected_max"),
    [("low", None, 1024, 4096), ("medium", 1000, 4096, 5096), ("high", 20000, 16384, 20000)],
)
def test_reasoning_effort_becomes_thinking(effort: str, max_tokens: int | None, budget: int, expected_max: int) -> None:
    params: dict[str, Any] = {"reasoning_effort": effort}
    if max_tokens is not None:
        params["max_tokens"] = max_tokens
    out = chat_request_to_messages(_chat({"role": "user", "content": "hi"}, **params), "m")
    assert out["thinking"] == {"type": "enabled", "budget_tokens": budget}
    assert out["max_tokens"] == expected_max > budget


def test_reasoning_effort_none_means_no_thinking() -> None:
    assert "thinking" not in chat_request_to_messages(
        _chat({"role": "user", "content": "hi"}, reasoning_effort="none"), "m"
    )


@pytest.mark.parametrize(
    ("params", "feature"),
    [
        ({"n": 2}, "n > 1"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"temperature": 1.5}, "temperature 1.5"),
        ({"response_format": {"type": "json_object"}}, "response_format json_object"),
        ({"modalities": ["text", "audio"]}, "audio output"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tool type 'custom'"),
    ],
)
def test_unsupported_features_are_refused_by_name(params: dict[str, Any], feature: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as info:
        chat_request_to_messages(_chat({"role": "user", "content": "hi"}, **params), "claude-x")
    assert str(info.value).startswith(f"{feature} is not supported by Anthropic upstream 'claude-x'")
    assert info.value.status == 400


def test_unsupported_content_parts_are_refused() -> None:
    audio = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    with pytest.raises(UnsupportedFeatureError, match="input_audio"):
        chat_request_to_messages(_chat({"role": "user", "content": [audio]}), "m")
    tiff = {"type": "image_url", "image_url": {"url": "data:image/tiff;base64,AAAA"}}
    with pytest.raises(UnsupportedFeatureError, match="image/tiff"):
        chat_request_to_messages(_chat({"role": "user", "content": [tiff]}), "m")


@pytest.mark.parametrize("arguments", ["not json", "[1, 2]"])
def test_tool_arguments_that_are_not_an_object_are_invalid(arguments: str) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = _chat({"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [call]})
    with pytest.raises(InvalidRequestError, match="'f'"):
        chat_request_to_messages(body, "m")


def test_empty_conversation_is_invalid() -> None:
    with pytest.raises(InvalidRequestError):
        chat_request_to_messages(_chat({"role": "system", "content": "only a system prompt"}), "m")


# -- replies ----------------------------------------------------------------------------------------


def _message(content: list[dict[str, Any]], stop: str = "end_turn", **usage: int) -> dict[str, Any]:
    return {
        "id": "msg_01ABC",
        "type": "message",
        "role": "assistant",
        "model": "claude-x",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": {"input_tokens": 10, "output_tokens": 5, **usage},
    }


def test_text_reply_with_cached_usage() -> None:
    msg = _message(
        [{"type": "text", "text": "Hello"}, {"type": "text", "text": " there"}],
        cache_read_input_tokens=100,
        cache_creation_input_tokens=20,
    )
    assert messages_response_to_chat(msg, "anthropic/claude-x", created=1700000000) == {
        "id": "chatcmpl-01ABC",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "anthropic/claude-x",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": 130,
            "completion_tokens": 5,
            "total_tokens": 135,
            "prompt_tokens_details": {"cached_tokens": 100},
            "completion_tokens_details": {"reasoning_tokens": 0},
        },
    }


def test_tool_use_and_thinking_reply() -> None:
    msg = _message(
        [
            {"type": "thinking", "thinking": "Two cities.", "signature": "sig"},
            {"type": "redacted_thinking", "data": "xyz"},
            {"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {"city": "Paris"}},
            {"type": "tool_use", "id": "toolu_2", "name": "get_weather", "input": {"city": "Tōkyō"}},
        ],
        stop="tool_use",
    )
    message = messages_response_to_chat(msg, "p/m")["choices"][0]["message"]
    assert message == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "reasoning_content": "Two cities.",
        "tool_calls": [
            {
                "id": "toolu_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
            },
            {
                "id": "toolu_2",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city": "Tōkyō"}'},
            },
        ],
    }
    assert messages_response_to_chat(msg, "p/m")["choices"][0]["finish_reason"] == "tool_calls"


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("model_context_window_exceeded", "length"),
        ("pause_turn", "stop"),
    ],
)
def test_stop_reason_mapping(stop: str, finish: str) -> None:
    reply = messages_response_to_chat(_message([{"type": "text", "text": "x"}], stop=stop), "p/m")
    assert reply["choices"][0]["finish_reason"] == finish


# -- streams ----------------------------------------------------------------------------------------


def _events(*pairs: tuple[str, dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    return list(pairs)


TRANSCRIPT = _events(
    (
        "message_start",
        {
            "type": "message_start",
            "message": {
                "id": "msg_01XYZ",
                "type": "message",
                "role": "assistant",
                "model": "claude-x",
                "content": [],
                "stop_reason": None,
                "stop_sequence": None,
                "usage": {
                    "input_tokens": 25,
                    "cache_read_input_tokens": 10,
                    "cache_creation_input_tokens": 0,
                    "output_tokens": 1,
                },
            },
        },
    ),
    ("ping", {"type": "ping"}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 0,
            "content_block": {"type": "thinking", "thinking": "", "signature": ""},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "thinking_delta", "thinking": "Hmm."}},
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 0, "delta": {"type": "signature_delta", "signature": "EqQB"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 0}),
    ("content_block_start", {"type": "content_block_start", "index": 1, "content_block": {"type": "text", "text": ""}}),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 1, "delta": {"type": "text_delta", "text": "Checking."}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 1}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 2,
            "content_block": {"type": "tool_use", "id": "toolu_A", "name": "get_weather", "input": {}},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": ""}},
    ),
    (
        "content_block_delta",
        {
            "type": "content_block_delta",
            "index": 2,
            "delta": {"type": "input_json_delta", "partial_json": '{"city": "Pa'},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 2, "delta": {"type": "input_json_delta", "partial_json": 'ris"}'}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 2}),
    (
        "content_block_start",
        {
            "type": "content_block_start",
            "index": 3,
            "content_block": {"type": "tool_use", "id": "toolu_B", "name": "get_time", "input": {}},
        },
    ),
    (
        "content_block_delta",
        {"type": "content_block_delta", "index": 3, "delta": {"type": "input_json_delta", "partial_json": "{}"}},
    ),
    ("content_block_stop", {"type": "content_block_stop", "index": 3}),
    (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 42},
        },
    ),
    ("message_stop", {"type": "message_stop"}),
)


def test_stream_golden_transcript() -> None:
    stream = MessagesToChatStream(public_model="anthropic/claude-x", created=1700000000)
    chunks = [chunk for name, data in TRANSCRIPT for chunk in stream.feed(name, data)]
    base = {
        "id": "chatcmpl-01XYZ",
        "object": "chat.completion.chunk",
        "created": 1700000000,
        "model": "anthropic/claude-x",
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**base, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    usage = {
        "prompt_tokens": 35,
        "completion_tokens": 42,
        "total_tokens": 77,
        "prompt_tokens_details": {"cached_tokens": 10},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }
    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"reasoning_content": "Hmm."}),
        chunk({"content": "Checking."}),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "toolu_A",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    }
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city": "Pa'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": 'ris"}'}}]}),
        chunk(
            {
                "tool_calls": [
                    {"index": 1, "id": "toolu_B", "type": "function", "function": {"name": "get_time", "arguments": ""}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
        {**base, "choices": [], "usage": usage},
    ]
    assert stream.done
    assert stream.finish_reason == "tool_calls"
    assert stream.usage == usage
    assert stream.text == "Checking."


def test_stream_state_before_the_end() -> None:
    stream = MessagesToChatStream(public_model="p/m")
    for name, data in TRANSCRIPT[:8]:
        stream.feed(name, data)
    assert not stream.done
    assert stream.finish_reason is None
    assert stream.usage is not None
    assert stream.usage["prompt_tokens"] == 35
    assert stream.text == "Checking."


def test_stream_event_name_may_come_from_the_data() -> None:
    stream = MessagesToChatStream(public_model="p/m", created=1)
    assert stream.feed(None, TRANSCRIPT[0][1])[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert stream.feed("ping", {"type": "ping"}) == []


@pytest.mark.parametrize(("kind", "status"), [("overloaded_error", 529), ("api_error", 500)])
def test_stream_error_event_raises(kind: str, status: int) -> None:
    stream = MessagesToChatStream(public_model="p/m")
    stream.feed(*TRANSCRIPT[0])
    with pytest.raises(UpstreamStreamError, match="Overloaded") as info:
        stream.feed("error", {"type": "error", "error": {"type": kind, "message": "Overloaded"}})
    assert info.value.status == status
    assert not stream.done


# -- properties -------------------------------------------------------------------------------------

_texts = st.text(min_size=1, max_size=12)
_args = st.dictionaries(st.text(max_size=5), st.integers() | st.text(max_size=5) | st.booleans(), max_size=3)
_ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789", min_size=4, max_size=8)


@st.composite
def _exchanges(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": draw(_texts)}]
    for turn in range(draw(st.integers(0, 3))):
        calls = [
            {
                "id": f"call_{turn}_{i}_{draw(_ids)}",
                "type": "function",
                "function": {
                    "name": draw(st.sampled_from(["get_weather", "get_time"])),
                    "arguments": json.dumps(draw(_args)),
                },
            }
            for i in range(draw(st.integers(0, 3)))
        ]
        assistant: dict[str, Any] = {
            "role": "assistant",
            "content": draw(st.none() | _texts) if calls else draw(_texts),
        }
        if calls:
            assistant["tool_calls"] = calls
        messages.append(assistant)
        messages += [{"role": "tool", "tool_call_id": c["id"], "content": draw(st.text(max_size=8))} for c in calls]
        if not calls or draw(st.booleans()):
            messages.append({"role": "user", "content": draw(_texts)})
    return messages


def _normal(messages: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for m in messages:
        calls = tuple(
            (c["id"], c["function"]["name"], json.loads(c["function"]["arguments"])) for c in m.get("tool_calls") or ()
        )
        out.append((m["role"], m.get("content"), calls, m.get("tool_call_id")))
    return out


_tools = st.lists(
    st.builds(
        lambda name, description, required: {
            "type": "function",
            "function": {
                "name": name,
                "description": description,
                "parameters": {"type": "object", "properties": {"a": {"type": "string"}}, "required": required},
            },
        },
        st.sampled_from(["get_weather", "get_time", "search"]),
        _texts,
        st.sampled_from([[], ["a"]]),
    ),
    max_size=3,
    unique_by=lambda t: t["function"]["name"],
)
_tool_choices = st.sampled_from(["auto", "required", "none", {"type": "function", "function": {"name": "search"}}])


@settings(max_examples=100, deadline=None)
@given(
    messages=_exchanges(),
    system=st.none() | _texts,
    max_tokens=st.none() | st.integers(1, 100_000),
    temperature=st.none() | st.floats(0, 1),
    top_p=st.none() | st.floats(0, 1),
    stop=st.none() | _texts | st.lists(_texts, min_size=1, max_size=4),
    tools=_tools,
    tool_choice=st.none() | _tool_choices,
)
def test_round_trip_keeps_what_anthropic_can_express(
    messages: list[dict[str, Any]],
    system: str | None,
    max_tokens: int | None,
    temperature: float | None,
    top_p: float | None,
    stop: str | list[str] | None,
    tools: list[dict[str, Any]],
    tool_choice: Any,
) -> None:
    head = [{"role": "system", "content": system}] if system else []
    params = {
        k: v
        for k, v in {"max_tokens": max_tokens, "temperature": temperature, "top_p": top_p, "stop": stop}.items()
        if v is not None
    }
    if tools:
        params["tools"] = tools
        if tool_choice is not None:
            params["tool_choice"] = tool_choice
    back = messages_request_to_chat(chat_request_to_messages(_chat(*head, *messages, **params), "claude-x"))
    assert back["model"] == "claude-x"
    assert _normal(back["messages"]) == _normal(head + messages)
    assert back["max_tokens"] == (max_tokens or 4096)
    assert back.get("temperature") == temperature
    assert back.get("top_p") == top_p
    assert back.get("stop") == ([stop] if isinstance(stop, str) else stop)
    assert back.get("tools") == (tools or None)
    assert back.get("tool_choice") == params.get("tool_choice")


_blocks = st.lists(
    st.one_of(
        st.tuples(st.just("text"), st.lists(st.text(max_size=6), max_size=4)),
        st.tuples(st.just("thinking"), st.lists(st.text(max_size=6), max_size=3)),
        st.tuples(st.just("tool_use"), _args, st.integers(1, 4)),
    ),
    max_size=5,
)


def _pieces(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // n))
    return [text[i : i + size] for i in range(0, len(text), size)]


def _anthropic_stream(
    blocks: list[tuple[Any, ...]], stop: str, usage: dict[str, int]
) -> tuple[dict[str, Any], list[tuple[str, dict[str, Any]]]]:
    """One answer both ways: the non-stream Message and the equivalent event sequence."""
    content: list[dict[str, Any]] = []
    start_usage = {**usage, "output_tokens": 1}
    events: list[tuple[str, dict[str, Any]]] = [
        (
            "message_start",
            {
                "type": "message_start",
                "message": {
                    "id": "msg_P",
                    "type": "message",
                    "role": "assistant",
                    "model": "m",
                    "content": [],
                    "stop_reason": None,
                    "stop_sequence": None,
                    "usage": start_usage,
                },
            },
        ),
        ("ping", {"type": "ping"}),
    ]
    for index, block in enumerate(blocks):
        if block[0] == "text":
            start, full = {"type": "text", "text": ""}, {"type": "text", "text": "".join(block[1])}
            deltas = [{"type": "text_delta", "text": p} for p in block[1]]
        elif block[0] == "thinking":
            start = {"type": "thinking", "thinking": "", "signature": ""}
            full = {"type": "thinking", "thinking": "".join(block[1]), "signature": "s"}
            deltas = [{"type": "thinking_delta", "thinking": p} for p in block[1]]
            deltas.append({"type": "signature_delta", "signature": "s"})
        else:
            full = {"type": "tool_use", "id": f"toolu_{index}", "name": f"tool{index}", "input": block[1]}
            start = {**full, "input": {}}
            args = json.dumps(block[1], ensure_ascii=False)
            deltas = [{"type": "input_json_delta", "partial_json": p} for p in ["", *_pieces(args, block[2])]]
        content.append(full)
        events.append(("content_block_start", {"type": "content_block_start", "index": index, "content_block": start}))
        events += [("content_block_delta", {"type": "content_block_delta", "index": index, "delta": d}) for d in deltas]
        events.append(("content_block_stop", {"type": "content_block_stop", "index": index}))
    events.append(
        (
            "message_delta",
            {
                "type": "message_delta",
                "delta": {"stop_reason": stop, "stop_sequence": None},
                "usage": {"output_tokens": usage["output_tokens"]},
            },
        )
    )
    events.append(("message_stop", {"type": "message_stop"}))
    message = {
        "id": "msg_P",
        "type": "message",
        "role": "assistant",
        "model": "m",
        "content": content,
        "stop_reason": stop,
        "stop_sequence": None,
        "usage": usage,
    }
    return message, events


def _accumulate_chat(chunks: list[dict[str, Any]]) -> dict[str, Any]:
    content, reasoning, finish, usage = [], [], None, None
    calls: dict[int, dict[str, Any]] = {}
    for chunk in chunks:
        usage = chunk.get("usage") or usage
        for choice in chunk["choices"]:
            delta = choice["delta"]
            content.append(delta.get("content") or "")
            reasoning.append(delta.get("reasoning_content") or "")
            finish = choice["finish_reason"] or finish
            for tc in delta.get("tool_calls") or ():
                call = calls.setdefault(
                    tc["index"],
                    {
                        "id": tc.get("id"),
                        "type": "function",
                        "function": {"name": tc["function"].get("name"), "arguments": ""},
                    },
                )
                call["function"]["arguments"] += tc["function"]["arguments"]
    message: dict[str, Any] = {"content": "".join(content) or None, "reasoning_content": "".join(reasoning) or None}
    message["tool_calls"] = [calls[i] for i in sorted(calls)] or None
    return {"message": message, "finish_reason": finish, "usage": usage}


@settings(max_examples=100, deadline=None)
@given(
    blocks=_blocks,
    stop=st.sampled_from(["end_turn", "max_tokens", "stop_sequence", "tool_use", "refusal"]),
    usage=st.fixed_dictionaries(
        {
            "input_tokens": st.integers(0, 10**6),
            "output_tokens": st.integers(1, 10**5),
            "cache_read_input_tokens": st.integers(0, 10**5),
            "cache_creation_input_tokens": st.integers(0, 10**5),
        }
    ),
)
def test_stream_concatenates_to_the_whole_reply(
    blocks: list[tuple[Any, ...]], stop: str, usage: dict[str, int]
) -> None:
    message, events = _anthropic_stream(blocks, stop, usage)
    stream = MessagesToChatStream(public_model="p/m", created=5)
    chunks = [chunk for name, data in events for chunk in stream.feed(name, data)]
    whole = messages_response_to_chat(message, "p/m", created=5)
    got = _accumulate_chat(chunks)
    expected = whole["choices"][0]["message"]
    assert got["message"] == {
        "content": expected["content"] or None,
        "reasoning_content": expected.get("reasoning_content") or None,
        "tool_calls": expected.get("tool_calls"),
    }
    assert got["finish_reason"] == whole["choices"][0]["finish_reason"] == stream.finish_reason
    assert got["usage"] == whole["usage"] == stream.usage
    indexes = [
        tc["index"] for c in chunks for ch in c["choices"] for tc in ch["delta"].get("tool_calls") or () if "id" in tc
    ]
    assert indexes == list(range(len(expected.get("tool_calls") or ())))
    assert {c["id"] for c in chunks} == {whole["id"]}
    assert stream.text == "".join(b["text"] for b in message["content"] if b["type"] == "text")
    assert stream.done
