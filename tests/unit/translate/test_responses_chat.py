"""Responses <-> Chat Completions translation: goldens, stream sequences, a property, and the real openai SDK."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx2
import openai
import pydantic
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from openai.types.responses import Response, ResponseStreamEvent

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.translate.responses import (
    ChatToResponsesStream,
    chat_response_to_responses,
    has_web_search,
    response_to_history,
    responses_request_to_chat,
    with_canonical_call_ids,
)
from tests.fakes.openai_responses import FakeOpenAIWithResponses, sse_events

EVENT = pydantic.TypeAdapter(ResponseStreamEvent)
RID = "resp_abc"
WEATHER = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def chat_chunk(delta: dict[str, Any] | None = None, finish: str | None = None, **extra: Any) -> dict[str, Any]:
    choices = [] if delta is None else [{"index": 0, "delta": delta, "finish_reason": finish}]
    return {"id": "chatcmpl-1", "object": "chat.completion.chunk", "model": "up/m", "choices": choices, **extra}


def completion(
    message: dict[str, Any], finish: str | None = "stop", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    doc = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "up/m",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": finish}],
    }
    return doc if usage is None else {**doc, "usage": usage}


USAGE = {
    "prompt_tokens": 10,
    "completion_tokens": 5,
    "total_tokens": 15,
    "prompt_tokens_details": {"cached_tokens": 4},
    "completion_tokens_details": {"reasoning_tokens": 2},
}


def run_stream(
    chunks: list[dict[str, Any]], request: dict[str, Any] | None = None
) -> tuple[ChatToResponsesStream, list[dict[str, Any]]]:
    stream = ChatToResponsesStream(response_id=RID, request=request or {"model": "m"}, created_at=1700)
    events = stream.start()
    for chunk in chunks:
        events += stream.feed(chunk)
    events += stream.finish()
    return stream, events


# -- request: Responses -> chat ---------------------------------------------------------------


def test_string_input_with_instructions_and_history() -> None:
    history = [{"role": "user", "content": "before"}, {"role": "assistant", "content": "ok"}]
    chat = responses_request_to_chat(
        {"model": "gpt-x", "input": "hi", "instructions": "Be brief.", "metadata": {"a": "b"}, "store": True},
        history,
    )
    assert chat == {
        "model": "gpt-x",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "before"},
            {"role": "assistant", "content": "ok"},
            {"role": "user", "content": "hi"},
        ],
    }


def test_item_input_becomes_chat_messages() -> None:
    body = {
        "model": "gpt-x",
        "input": [
            {"type": "message", "role": "developer", "content": "Rules."},
            {
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is this?"},
                    {"type": "input_image", "image_url": "https://x/cat.png", "detail": "low"},
                ],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
            {"type": "message", "role": "assistant", "content": [{"type": "output_text", "text": "A cat."}]},
            {"type": "function_call", "call_id": "call_1", "name": "look", "arguments": '{"x":1}'},
            {"type": "function_call", "call_id": "call_2", "name": "look", "arguments": '{"x":2}'},
            {"type": "function_call_output", "call_id": "call_1", "output": "one"},
            {
                "type": "function_call_output",
                "call_id": "call_2",
                "output": [{"type": "input_text", "text": "t"}, {"type": "input_text", "text": "wo"}],
            },
        ],
    }
    assert responses_request_to_chat(body)["messages"] == [
        {"role": "system", "content": "Rules."},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is this?"},
                {"type": "image_url", "image_url": {"url": "https://x/cat.png", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": "A cat.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "look", "arguments": '{"x":1}'}},
                {"id": "call_2", "type": "function", "function": {"name": "look", "arguments": '{"x":2}'}},
            ],
        },
        {"role": "tool", "tool_call_id": "call_1", "content": "one"},
        {"role": "tool", "tool_call_id": "call_2", "content": "two"},
    ]


def test_sloppy_call_ids_and_consecutive_calls_merge_into_one_message() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "callId": "a", "name": "f", "arguments": {"k": 1}},
            {"type": "function_call", "id": "b", "name": "g"},
            {"type": "function_call_output", "callId": "a", "output": {"ok": True}},
            {"type": "function_call_output", "id": "b", "output": ""},
        ],
    }
    assert responses_request_to_chat(body)["messages"][1:] == [
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": '{"k": 1}'}},
                {"id": "b", "type": "function", "function": {"name": "g", "arguments": "{}"}},
            ],
        },
        {"role": "tool", "tool_call_id": "a", "content": '{"ok": true}'},
        {"role": "tool", "tool_call_id": "b", "content": ""},
    ]


def test_call_ids_are_spelled_call_id_for_a_native_upstream() -> None:
    body = {
        "model": "m",
        "input": [
            {"role": "user", "content": "go"},
            {"type": "function_call", "id": "fc_1", "call_id": "a", "name": "f", "arguments": "{}"},
            {"type": "function_call", "callId": "b", "name": "g", "arguments": "{}"},
            {"type": "function_call_output", "callId": "a", "output": "x"},
            {"type": "function_call_output", "id": "b", "output": "y"},
        ],
    }
    fixed = with_canonical_call_ids(body)
    assert fixed["input"] == [
        body["input"][0],
        body["input"][1],  # already right: the item id stays, the call id wins
        {"type": "function_call", "call_id": "b", "name": "g", "arguments": "{}"},
        {"type": "function_call_output", "call_id": "a", "output": "x"},
        {"type": "function_call_output", "call_id": "b", "output": "y"},
    ]
    assert body["input"][2] == {"type": "function_call", "callId": "b", "name": "g", "arguments": "{}"}  # not mutated
    clean = {"model": "m", "input": [body["input"][1]]}
    assert with_canonical_call_ids(clean) is clean  # nothing to fix: no copy
    with pytest.raises(InvalidRequestError, match=r"input\[0\]\.call_id"):
        with_canonical_call_ids({"input": [{"type": "function_call_output", "output": "x"}]})


def test_tools_choice_and_sampling_parameters() -> None:
    body = {
        "model": "m",
        "input": "x",
        "stream": True,
        "temperature": 0.2,
        "top_p": 0.9,
        "max_output_tokens": 99,
        "parallel_tool_calls": False,
        "safety_identifier": "u-1",
        "reasoning": {"effort": "low"},
        "tools": [
            {
                "type": "function",
                "name": "get_weather",
                "description": "Weather",
                "parameters": WEATHER,
                "strict": True,
            },
            {"type": "web_search_preview"},
        ],
        "tool_choice": {"type": "function", "name": "get_weather"},
        "previous_response_id": "resp_1",
        "include": ["reasoning.encrypted_content"],
        "truncation": "auto",
    }
    chat = responses_request_to_chat(body)
    del chat["messages"]
    assert chat == {
        "model": "m",
        "stream": True,
        "stream_options": {"include_usage": True},
        "temperature": 0.2,
        "top_p": 0.9,
        "max_completion_tokens": 99,
        "user": "u-1",
        "reasoning_effort": "low",
        "parallel_tool_calls": False,
        "tools": [
            {
                "type": "function",
                "function": {"name": "get_weather", "description": "Weather", "parameters": WEATHER, "strict": True},
            }
        ],
        "tool_choice": {"type": "function", "function": {"name": "get_weather"}},
    }
    assert has_web_search(body)
    assert not has_web_search({"tools": [{"type": "function", "name": "f"}]})


@pytest.mark.parametrize("choice", ["auto", "none", "required"])
def test_tool_choice_words_pass_through(choice: str) -> None:
    body = {"model": "m", "input": "x", "tools": [{"type": "function", "name": "f"}], "tool_choice": choice}
    assert responses_request_to_chat(body)["tool_choice"] == choice


def test_web_search_alone_leaves_no_tool_parameters() -> None:
    body = {
        "model": "m",
        "input": "x",
        "tools": [{"type": "web_search"}],
        "tool_choice": "required",
        "parallel_tool_calls": True,
    }
    assert responses_request_to_chat(body) == {"model": "m", "messages": [{"role": "user", "content": "x"}]}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            {"format": {"type": "json_schema", "name": "city", "schema": WEATHER, "strict": True}},
            {
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {"name": "city", "schema": WEATHER, "strict": True},
                }
            },
        ),
        ({"format": {"type": "json_object"}}, {"response_format": {"type": "json_object"}}),
        ({"format": {"type": "text"}, "verbosity": "low"}, {"verbosity": "low"}),
    ],
)
def test_text_format(text: dict[str, Any], expected: dict[str, Any]) -> None:
    chat = responses_request_to_chat({"model": "m", "input": "x", "text": text})
    assert {k: v for k, v in chat.items() if k not in ("model", "messages")} == expected


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({"model": "m"}, InvalidRequestError, "input is missing"),
        ({"model": "m", "input": []}, InvalidRequestError, "input is empty"),
        ({"model": "m", "input": 5}, InvalidRequestError, "input must be a string or a list"),
        ({"model": "m", "input": ["hi"]}, InvalidRequestError, "input[0] must be an object"),
        (
            {
                "model": "m",
                "input": [
                    {"role": "user", "content": "a"},
                    {"role": "user", "content": "b"},
                    {"type": "function_call", "name": "f", "arguments": "{}"},
                ],
            },
            InvalidRequestError,
            "input[2].call_id is missing",
        ),
        (
            {"model": "m", "input": [{"type": "function_call", "call_id": "c", "arguments": "{}"}]},
            InvalidRequestError,
            "input[0].name is missing",
        ),
        (
            {"model": "m", "input": [{"type": "function_call_output", "call_id": "c"}]},
            InvalidRequestError,
            "input[0].output is missing",
        ),
        ({"model": "m", "input": [{"role": "robot", "content": "x"}]}, InvalidRequestError, "input[0].role"),
        ({"model": "m", "input": [{"content": "x"}]}, InvalidRequestError, "input[0].type is missing"),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_text"}]}]},
            InvalidRequestError,
            "input[0].content[0].text must be a string",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image", "file_id": "file-1"}]}]},
            UnsupportedFeatureError,
            "input[0].content[0].file_id",
        ),
        (
            {"model": "m", "input": [{"role": "user", "content": [{"type": "input_image"}]}]},
            InvalidRequestError,
            "input[0].content[0].image_url is missing",
        ),
        (
            {"model": "m", "input": [{"type": "item_reference", "id": "msg_1"}]},
            UnsupportedFeatureError,
            "input item type 'item_reference'",
        ),
        (
            {"model": "m", "input": "x", "tools": [{"type": "file_search", "vector_store_ids": []}]},
            UnsupportedFeatureError,
            "tool type 'file_search'",
        ),
        ({"model": "m", "input": "x", "tools": [{"type": "function"}]}, InvalidRequestError, "tools[0].name"),
        (
            {"model": "m", "input": "x", "text": {"format": {"type": "json_schema", "schema": {}}}},
            InvalidRequestError,
            "text.format.name is missing",
        ),
        ({"model": "m", "input": "x", "instructions": ["x"]}, InvalidRequestError, "instructions must be a string"),
        ({"model": "m", "input": "x", "prompt": {"id": "pmpt_1"}}, UnsupportedFeatureError, "'prompt'"),
    ],
)
def test_bad_requests_name_the_path(body: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        responses_request_to_chat(body)
    assert message in str(caught.value)
    assert type(caught.value) is error


# -- whole answer: chat -> Response -----------------------------------------------------------


def test_text_answer_becomes_a_full_response() -> None:
    request = {
        "model": "m",
        "input": "hi",
        "instructions": "Be brief.",
        "metadata": {"k": "v"},
        "max_output_tokens": 50,
        "previous_response_id": "resp_0",
    }
    response = chat_response_to_responses(
        completion({"content": "Hello!"}, usage=USAGE), response_id=RID, request=request, created_at=1700
    )
    assert response["output"] == [
        {
            "id": "msg_abc_0",
            "type": "message",
            "status": "completed",
            "role": "assistant",
            "content": [{"type": "output_text", "text": "Hello!", "annotations": [], "logprobs": []}],
        }
    ]
    assert response["usage"] == {
        "input_tokens": 10,
        "input_tokens_details": {"cached_tokens": 4, "cache_write_tokens": 0},
        "output_tokens": 5,
        "output_tokens_details": {"reasoning_tokens": 2},
        "total_tokens": 15,
    }
    assert {
        k: response[k]
        for k in (
            "id",
            "object",
            "created_at",
            "status",
            "model",
            "error",
            "incomplete_details",
            "instructions",
            "metadata",
            "max_output_tokens",
            "previous_response_id",
            "tool_choice",
            "tools",
            "parallel_tool_calls",
            "store",
        )
    } == {
        "id": RID,
        "object": "response",
        "created_at": 1700,
        "status": "completed",
        "model": "up/m",
        "error": None,
        "incomplete_details": None,
        "instructions": "Be brief.",
        "metadata": {"k": "v"},
        "max_output_tokens": 50,
        "previous_response_id": "resp_0",
        "tool_choice": "auto",
        "tools": [],
        "parallel_tool_calls": True,
        "store": True,
    }
    assert "output_text" not in response
    parsed = Response.model_validate(response)
    assert parsed.output_text == "Hello!"


def test_reasoning_and_tool_calls_become_items_in_order() -> None:
    request = {"model": "m", "input": "hi", "tools": [{"type": "function", "name": "f", "parameters": WEATHER}]}
    chat = completion(
        {
            "content": None,
            "reasoning_content": "Let me think.",
            "tool_calls": [
                {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": '{"city":"Paris"}'}},
                {"id": "call_2", "type": "function", "function": {"name": "f", "arguments": '{"city":"Tokyo"}'}},
            ],
        },
        finish="tool_calls",
    )
    response = chat_response_to_responses(chat, response_id=RID, request=request, created_at=1)
    assert response["output"] == [
        {"id": "rs_abc_0", "type": "reasoning", "summary": [{"type": "summary_text", "text": "Let me think."}]},
        {
            "id": "fc_abc_1",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_1",
            "name": "f",
            "arguments": '{"city":"Paris"}',
        },
        {
            "id": "fc_abc_2",
            "type": "function_call",
            "status": "completed",
            "call_id": "call_2",
            "name": "f",
            "arguments": '{"city":"Tokyo"}',
        },
    ]
    assert response["tools"] == [
        {"type": "function", "name": "f", "description": None, "parameters": WEATHER, "strict": None}
    ]
    assert response["usage"] is None
    Response.model_validate(response)


@pytest.mark.parametrize(("finish", "reason"), [("length", "max_output_tokens"), ("content_filter", "content_filter")])
def test_cut_answers_are_incomplete(finish: str, reason: str) -> None:
    response = chat_response_to_responses(
        completion({"content": "Half"}, finish=finish), response_id=RID, request={"model": "m"}, created_at=1
    )
    assert response["status"] == "incomplete"
    assert response["incomplete_details"] == {"reason": reason}
    assert response["output"][0]["status"] == "incomplete"
    Response.model_validate(response)


def test_history_drops_instructions_and_appends_the_answer() -> None:
    request = {"model": "m", "input": "weather?", "instructions": "Be brief."}
    chat_messages = responses_request_to_chat(request)["messages"]
    chat = completion(
        {
            "content": "Checking.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        finish="tool_calls",
    )
    response = chat_response_to_responses(chat, response_id=RID, request=request, created_at=1)
    assert response_to_history(chat_messages, response) == [
        {"role": "user", "content": "weather?"},
        {
            "role": "assistant",
            "content": "Checking.",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
    ]
    follow_up = {"model": "m", "input": [{"type": "function_call_output", "call_id": "call_1", "output": "sunny"}]}
    messages = responses_request_to_chat(follow_up, response_to_history(chat_messages, response))["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant", "tool"]


# -- stream: chat chunks -> Responses events --------------------------------------------------


def test_text_stream_event_sequence() -> None:
    chunks = [
        chat_chunk({"role": "assistant", "content": ""}),
        chat_chunk({"content": "Hel"}),
        chat_chunk({"content": "lo"}),
        chat_chunk({}, "stop"),
        chat_chunk(usage=USAGE),
    ]
    stream, events = run_stream(chunks)
    assert [(e["sequence_number"], e["type"]) for e in events] == list(
        enumerate(
            [
                "response.created",
                "response.in_progress",
                "response.output_item.added",
                "response.content_part.added",
                "response.output_text.delta",
                "response.output_text.delta",
                "response.output_text.done",
                "response.content_part.done",
                "response.output_item.done",
                "response.completed",
            ]
        )
    )
    assert events[0]["response"]["status"] == "in_progress"
    assert events[0]["response"]["output"] == []
    assert events[2]["item"] == {
        "id": "msg_abc_0",
        "type": "message",
        "status": "in_progress",
        "role": "assistant",
        "content": [],
    }
    assert events[4] == {
        "type": "response.output_text.delta",
        "item_id": "msg_abc_0",
        "output_index": 0,
        "content_index": 0,
        "delta": "Hel",
        "logprobs": [],
        "sequence_number": 4,
    }
    assert events[6]["text"] == "Hello"
    assert stream.text == "Hello"
    assert stream.usage == USAGE
    whole = completion({"content": "Hello"}, usage=USAGE)
    assert (
        events[-1]["response"]
        == stream.response
        == chat_response_to_responses(whole, response_id=RID, request={"model": "m"}, created_at=1700)
    )
    for event in events:
        EVENT.validate_python(event)


def test_parallel_function_calls_stream_one_item_after_the_other() -> None:
    def call(index: int, **fields: Any) -> dict[str, Any]:
        return chat_chunk({"tool_calls": [{"index": index, **fields}]})

    chunks = [
        chat_chunk({"role": "assistant", "content": None}),
        call(0, id="call_1", type="function", function={"name": "get_weather", "arguments": ""}),
        call(0, function={"arguments": '{"city":'}),
        call(0, function={"arguments": '"Paris"}'}),
        call(1, id="call_2", type="function", function={"name": "get_weather", "arguments": '{"city":"Tokyo"}'}),
        chat_chunk({}, "tool_calls"),
        chat_chunk(usage=USAGE),
    ]
    _, events = run_stream(chunks)
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert events[2]["item"] == {
        "id": "fc_abc_0",
        "type": "function_call",
        "status": "in_progress",
        "call_id": "call_1",
        "name": "get_weather",
        "arguments": "",
    }
    assert events[5]["arguments"] == '{"city":"Paris"}'
    assert events[10]["item"]["arguments"] == '{"city":"Tokyo"}'
    assert events[10]["output_index"] == 1
    final = events[-1]["response"]["output"]
    assert [(i["call_id"], i["arguments"], i["status"]) for i in final] == [
        ("call_1", '{"city":"Paris"}', "completed"),
        ("call_2", '{"city":"Tokyo"}', "completed"),
    ]
    for event in events:
        EVENT.validate_python(event)


def test_reasoning_streams_as_a_summary_then_text() -> None:
    chunks = [
        chat_chunk({"reasoning_content": "Hmm"}),
        chat_chunk({"reasoning_content": "."}),
        chat_chunk({"content": "Yes"}),
        chat_chunk({}, "stop"),
    ]
    _, events = run_stream(chunks)
    assert [e["type"] for e in events][2:9] == [
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
    ]
    assert events[8]["item"] == {
        "id": "rs_abc_0",
        "type": "reasoning",
        "summary": [{"type": "summary_text", "text": "Hmm."}],
    }
    assert events[9]["item"]["id"] == "msg_abc_1"


def test_length_cut_stream_ends_incomplete() -> None:
    stream, events = run_stream([chat_chunk({"content": "Half"}), chat_chunk({}, "length")])
    assert events[-1]["type"] == "response.incomplete"
    assert events[-1]["response"]["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-2]["item"]["status"] == "incomplete"
    assert stream.response == chat_response_to_responses(
        completion({"content": "Half"}, finish="length"), response_id=RID, request={"model": "m"}, created_at=1700
    )


def test_fail_ends_the_stream_with_response_failed() -> None:
    stream = ChatToResponsesStream(response_id=RID, request={"model": "m"}, created_at=1)
    events = stream.start() + stream.feed(chat_chunk({"content": "Par"}))
    events += stream.fail("upstream went away", "server_error")
    assert events[-1]["type"] == "response.failed"
    assert events[-1]["response"]["status"] == "failed"
    assert events[-1]["response"]["error"] == {"code": "server_error", "message": "upstream went away"}
    assert events[-1]["response"]["output"][0]["status"] == "incomplete"
    assert stream.finish() == []
    assert stream.feed(chat_chunk({"content": "x"})) == []
    EVENT.validate_python(events[-1])


# -- the stream equals the whole answer (property) --------------------------------------------

_text = st.text(alphabet='ab {}":é😀\n', max_size=6)
_calls = st.lists(
    st.tuples(
        st.one_of(st.none(), st.sampled_from(["call_x", "call_y", "call_z"])),
        st.sampled_from(["f", "get_weather"]),
        st.lists(_text, max_size=4),
    ),
    max_size=3,
    unique_by=lambda c: c[0] or object(),
)
_usage = st.one_of(
    st.none(),
    st.builds(
        lambda p, c: {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c},
        st.integers(0, 999),
        st.integers(0, 999),
    ),
)


@st.composite
def chat_answers(draw: st.DrawFn) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """Chunks in the order upstreams send them (reasoning, text, calls), and the same answer whole."""
    reasoning, content, calls = draw(st.lists(_text, max_size=4)), draw(st.lists(_text, max_size=5)), draw(_calls)
    finish = draw(st.sampled_from(["stop", "length", "tool_calls", "content_filter", None]))
    usage, usage_in_finish = draw(_usage), draw(st.booleans())
    chunks = [chat_chunk({"role": "assistant", "content": ""})]
    chunks += [chat_chunk({"reasoning_content": piece}) for piece in reasoning]
    chunks += [chat_chunk({"content": piece}) for piece in content]
    whole_calls = []
    for index, (call_id, name, pieces) in enumerate(calls):
        head = {"index": index, "type": "function", "function": {"name": name, "arguments": ""}}
        chunks.append(chat_chunk({"tool_calls": [head if call_id is None else {**head, "id": call_id}]}))
        chunks += [chat_chunk({"tool_calls": [{"index": index, "function": {"arguments": p}}]}) for p in pieces]
        whole_calls.append(
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": "".join(pieces)}}
        )
    if usage_in_finish:
        chunks.append(chat_chunk({}, finish, usage=usage))
    else:
        chunks += [chat_chunk({}, finish), chat_chunk(usage=usage)]
    message: dict[str, Any] = {"content": "".join(content) or None, "reasoning_content": "".join(reasoning)}
    if whole_calls:
        message["tool_calls"] = whole_calls
    return chunks, completion(message, finish=finish, usage=usage)


@settings(max_examples=100, deadline=None)
@given(chat_answers())
def test_stream_final_response_equals_the_whole_answer(answer: tuple[list[dict[str, Any]], dict[str, Any]]) -> None:
    chunks, whole = answer
    request = {"model": "m", "input": "x", "instructions": "I"}
    stream, events = run_stream(chunks, request)
    expected = chat_response_to_responses(whole, response_id=RID, request=request, created_at=1700)
    assert events[-1]["response"] == stream.response == expected
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    deltas = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert deltas == stream.text == Response.model_validate(expected).output_text
    for event in events:
        EVENT.validate_python(event)
    if expected["status"] == "completed":
        assert sdk_stream(events).output_text == deltas


_delta = st.one_of(
    st.builds(lambda t: {"reasoning_content": t}, _text),
    st.builds(lambda t: {"content": t}, _text),
    st.builds(lambda t: {"refusal": t}, _text),
    st.builds(
        lambda i, t: {"tool_calls": [{"index": i, "id": f"call_{i}", "function": {"name": "f", "arguments": t}}]},
        st.integers(0, 2),
        _text,
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(_delta, max_size=12), st.sampled_from(["stop", "tool_calls", "length"]))
def test_any_delta_order_still_makes_a_stream_the_sdk_accepts(deltas: list[dict[str, Any]], finish: str) -> None:
    chunks = [chat_chunk(delta) for delta in deltas] + [chat_chunk({}, finish)]
    stream, events = run_stream(chunks)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    for event in events:
        EVENT.validate_python(event)
    opened = [e["output_index"] for e in events if e["type"] == "response.output_item.added"]
    closed = [e["output_index"] for e in events if e["type"] == "response.output_item.done"]
    assert opened == closed == list(range(len(stream.response["output"])))
    text = "".join(e["delta"] for e in events if e["type"] == "response.output_text.delta")
    assert text == stream.text == Response.model_validate(stream.response).output_text
    if finish != "length":
        assert sdk_stream(events).output_text == text


# -- the official SDK reads what we produce ---------------------------------------------------


def sdk_client(handler: Callable[[httpx2.Request], httpx2.Response]) -> openai.OpenAI:
    http = httpx2.Client(transport=httpx2.MockTransport(handler))
    return openai.OpenAI(api_key="sk-test", base_url="http://gateway.test/v1", http_client=http, max_retries=0)


def sse_response(events: list[dict[str, Any]]) -> Callable[[httpx2.Request], httpx2.Response]:
    def handler(request: httpx2.Request) -> httpx2.Response:
        assert request.url.path == "/v1/responses"
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=sse_events(events))

    return handler


def sdk_stream(events: list[dict[str, Any]]) -> Any:
    with sdk_client(sse_response(events)).responses.stream(model="m", input="x") as stream:
        return stream.get_final_response()


def test_sdk_accumulates_text_and_reasoning_stream() -> None:
    chunks = [
        chat_chunk({"reasoning_content": "Think."}),
        chat_chunk({"content": "Hello "}),
        chat_chunk({"content": "there"}),
        chat_chunk({}, "stop", usage=USAGE),
    ]
    _, events = run_stream(chunks)
    client = sdk_client(sse_response(events))
    with client.responses.stream(model="m", input="x") as stream:
        seen = [event.type for event in stream]
        final = stream.get_final_response()
    assert seen == [e["type"] for e in events]
    assert final.output_text == "Hello there"
    assert final.id == RID
    assert final.usage is not None
    assert final.usage.input_tokens_details.cached_tokens == 4
    raw = list(client.responses.create(model="m", input="x", stream=True))
    assert [e.sequence_number for e in raw] == list(range(len(events)))
    assert "".join(e.delta for e in raw if e.type == "response.output_text.delta") == "Hello there"


def test_sdk_parses_streamed_function_calls() -> None:
    chunks = [
        chat_chunk(
            {
                "tool_calls": [
                    {
                        "index": i,
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": f'{{"n":{i}}}'},
                    }
                ]
            }
        )
        for i in range(2)
    ] + [chat_chunk({}, "tool_calls")]
    _, events = run_stream(chunks)
    final = sdk_stream(events)
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.call_id, c.name, json.loads(c.arguments)) for c in calls] == [
        ("call_0", "get_weather", {"n": 0}),
        ("call_1", "get_weather", {"n": 1}),
    ]


def test_sdk_parses_the_whole_response() -> None:
    chat = completion(
        {
            "content": "Hi!",
            "tool_calls": [{"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        "tool_calls",
        USAGE,
    )
    body = chat_response_to_responses(chat, response_id=RID, request={"model": "m", "input": "x"}, created_at=1)

    def handler(request: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, json=body)

    response = sdk_client(handler).responses.create(model="m", input="x")
    assert response.output_text == "Hi!"
    assert response.output[1].type == "function_call"
    assert response.output[1].call_id == "call_1"
    assert response.usage is not None
    assert response.usage.total_tokens == 15


# -- the fake's native /v1/responses, over real HTTP ------------------------------------------


@pytest.fixture(scope="module")
def fake_responses() -> Iterator[FakeOpenAIWithResponses]:
    server = FakeOpenAIWithResponses().start()
    yield server
    server.stop()


def test_fake_answers_json_and_stream(fake_responses: FakeOpenAIWithResponses) -> None:
    client = openai.OpenAI(api_key="sk-up", base_url=fake_responses.base_url + "/v1", max_retries=0)
    response = client.responses.create(model="gpt-fake", input="ping")
    assert response.output_text == "Hello from gpt-fake. You said: ping"
    with client.responses.stream(model="gpt-fake", input=[{"role": "user", "content": "pong"}]) as stream:
        events = list(stream)
        final = stream.get_final_response()
    assert final.output_text == "Hello from gpt-fake. You said: pong"
    assert [e.sequence_number for e in events] == list(range(len(events)))
    assert events[0].type == "response.created"
    assert events[-1].type == "response.completed"
    assert fake_responses.requests_for("/v1/responses")[-1].json()["stream"] is True


def test_fake_tool_round_trip_and_previous_response(fake_responses: FakeOpenAIWithResponses) -> None:
    client = openai.OpenAI(api_key="sk-up", base_url=fake_responses.base_url + "/v1", max_retries=0)
    with client.responses.stream(model="fake-tool", input="weather?") as stream:
        first = stream.get_final_response()
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.call_id for c in calls] == ["call_weather_1", "call_weather_2"]
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": c.arguments} for c in calls]
    second = client.responses.create(model="fake-tool", input=outputs, previous_response_id=first.id)
    assert second.output_text == 'Tool results: {"city": "Paris"} | {"city": "Tokyo"}'
    # Like OpenAI, the fake refuses other spellings of call_id and outputs without their call.
    sloppy = [{"type": "function_call_output", "callId": "call_weather_1", "output": "x"}]
    with pytest.raises(openai.BadRequestError, match="callId"):
        client.responses.create(model="fake-tool", input=sloppy, previous_response_id=first.id)
    orphan = [{"type": "function_call_output", "call_id": "call_nowhere", "output": "x"}]
    with pytest.raises(openai.BadRequestError, match="No tool call found"):
        client.responses.create(model="fake-tool", input=orphan)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="gpt-fake", input="x", previous_response_id="resp_missing")
