"""Bedrock Converse answers and ConverseStream events -> Chat Completions."""

from __future__ import annotations

import json
from typing import Any

import pytest

from app.translate.converse.response import ConverseToChatStream, chat_usage_from_converse, converse_response_to_chat
from tests.fakes.bedrock_converse import converse_answer, converse_stream_events

USAGE = {"inputTokens": 100, "outputTokens": 20, "totalTokens": 120}
CHAT_USAGE = {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}


def answer(
    content: list[dict[str, Any]], stop: str = "end_turn", usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": usage or USAGE,
        "metrics": {"latencyMs": 321},
    }


# -- whole answers ---------------------------------------------------------------------------------------


def test_text_answer() -> None:
    out = converse_response_to_chat(answer([{"text": "Hello "}, {"text": "there."}]), "bedrock/llama", created=7)
    assert out["id"].startswith("chatcmpl-")
    assert len(out["id"]) > len("chatcmpl-") + 16
    assert out == {
        "id": out["id"],
        "object": "chat.completion",
        "created": 7,
        "model": "bedrock/llama",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": CHAT_USAGE,
    }


def test_created_defaults_to_now_and_ids_differ() -> None:
    one = converse_response_to_chat(answer([{"text": "a"}]), "m")
    two = converse_response_to_chat(answer([{"text": "a"}]), "m")
    assert isinstance(one["created"], int)
    assert one["created"] > 1_700_000_000
    assert one["id"] != two["id"]


def test_tool_calls_only_give_null_content() -> None:
    doc = answer(
        [
            {"toolUse": {"toolUseId": "tooluse_1", "name": "get_weather", "input": {"city": "Paris", "unit": "°C"}}},
            {"toolUse": {"toolUseId": "tooluse_2", "name": "now", "input": {}}},
        ],
        "tool_use",
    )
    choice = converse_response_to_chat(doc, "m")["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"] == {
        "role": "assistant",
        "content": None,
        "refusal": None,
        "tool_calls": [
            {
                "id": "tooluse_1",
                "type": "function",
                "function": {"name": "get_weather", "arguments": '{"city":"Paris","unit":"°C"}'},
            },
            {"id": "tooluse_2", "type": "function", "function": {"name": "now", "arguments": "{}"}},
        ],
    }


def test_reasoning_text_and_tool_call() -> None:
    doc = answer(
        [
            {"reasoningContent": {"reasoningText": {"text": "Think ", "signature": "sig"}}},
            {"reasoningContent": {"redactedContent": "b3BhcXVl"}},
            {"reasoningContent": {"reasoningText": {"text": "more."}}},
            {"text": "Let me check."},
            {"toolUse": {"toolUseId": "t1", "name": "f", "input": {"a": [1, 2]}}},
        ],
        "tool_use",
    )
    message = converse_response_to_chat(doc, "m")["choices"][0]["message"]
    assert message["content"] == "Let me check."
    assert message["reasoning_content"] == "Think more."
    assert message["tool_calls"][0]["function"] == {"name": "f", "arguments": '{"a":[1,2]}'}


def test_empty_content_is_an_empty_string() -> None:
    message = converse_response_to_chat(answer([]), "m")["choices"][0]["message"]
    assert message == {"role": "assistant", "content": "", "refusal": None}


@pytest.mark.parametrize(
    ("stop", "finish"),
    [
        ("end_turn", "stop"),
        ("stop_sequence", "stop"),
        ("max_tokens", "length"),
        ("tool_use", "tool_calls"),
        ("guardrail_intervened", "content_filter"),
        ("content_filtered", "content_filter"),
        ("model_context_window_exceeded", "stop"),
        ("something_new", "stop"),
    ],
)
def test_finish_reasons(stop: str, finish: str) -> None:
    assert converse_response_to_chat(answer([{"text": "x"}], stop), "m")["choices"][0]["finish_reason"] == finish


def test_usage_counts_cache_tokens_inside_the_prompt() -> None:
    usage = {
        "inputTokens": 10,
        "outputTokens": 5,
        "totalTokens": 1515,
        "cacheReadInputTokens": 1200,
        "cacheWriteInputTokens": 300,
    }
    assert converse_response_to_chat(answer([{"text": "x"}], usage=usage), "m")["usage"] == {
        "prompt_tokens": 1510,
        "completion_tokens": 5,
        "total_tokens": 1515,
        "prompt_tokens_details": {"cached_tokens": 1200},
    }
    assert chat_usage_from_converse(None) == {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@pytest.mark.parametrize(
    "doc",
    [{}, {"output": {}}, {"output": {"message": {"role": "assistant"}}}, {"output": {"message": {"content": "x"}}}],
)
def test_an_answer_without_a_content_list_is_a_value_error(doc: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match=r"output\.message\.content"):
        converse_response_to_chat(doc, "m")


# -- streams -----------------------------------------------------------------------------------------------


def feed(events: list[tuple[str, dict[str, Any]]], model: str = "bedrock/x") -> tuple[ConverseToChatStream, list[Any]]:
    stream = ConverseToChatStream(model, created=3)
    chunks: list[Any] = []
    for event, doc in events:
        chunks += stream.feed(event, {**doc, "p": "abcdefgh"})
    return stream, chunks


def test_text_stream_golden() -> None:
    stream, chunks = feed(
        [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Hel"}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": ""}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "lo"}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
        ]
    )
    assert (stream.complete, stream.done) == (False, False)
    chunks += stream.feed("messageStop", {"stopReason": "end_turn"})
    assert (stream.complete, stream.done) == (True, False)
    chunks += stream.feed("metadata", {"usage": USAGE, "metrics": {"latencyMs": 40}, "p": "abc"})
    assert (stream.complete, stream.done) == (True, True)
    head = {"id": stream.id, "object": "chat.completion.chunk", "created": 3, "model": "bedrock/x"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
        {**head, "choices": [], "usage": CHAT_USAGE},
    ]
    assert stream.finish() == []
    assert (stream.text, stream.finish_reason, stream.usage) == ("Hello", "stop", CHAT_USAGE)


def test_tool_call_stream_with_partial_json_arguments() -> None:
    _, chunks = feed(
        [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "Checking."}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockStart", {"contentBlockIndex": 1, "start": {"toolUse": {"toolUseId": "tu_a", "name": "f"}}}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": '{"ci'}}}),
            ("contentBlockStart", {"contentBlockIndex": 2, "start": {"toolUse": {"toolUseId": "tu_b", "name": "g"}}}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"toolUse": {"input": 'ty": "Paris"}'}}}),
            ("contentBlockStop", {"contentBlockIndex": 1}),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"toolUse": {"input": "{}"}}}),
            ("contentBlockStop", {"contentBlockIndex": 2}),
            ("messageStop", {"stopReason": "tool_use"}),
        ]
    )
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"content": "Checking."}, None),
        (
            {
                "tool_calls": [
                    {"index": 0, "id": "tu_a", "type": "function", "function": {"name": "f", "arguments": ""}}
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": '{"ci'}}]}, None),
        (
            {
                "tool_calls": [
                    {"index": 1, "id": "tu_b", "type": "function", "function": {"name": "g", "arguments": ""}}
                ]
            },
            None,
        ),
        ({"tool_calls": [{"index": 0, "function": {"arguments": 'ty": "Paris"}'}}]}, None),
        ({"tool_calls": [{"index": 1, "function": {"arguments": "{}"}}]}, None),
        ({}, "tool_calls"),
    ]
    arguments = "".join(
        call["function"]["arguments"]
        for c in chunks
        for call in c["choices"][0]["delta"].get("tool_calls", [])
        if call["index"] == 0
    )
    assert arguments == '{"city": "Paris"}'


def test_reasoning_stream_drops_signatures_and_redacted_content() -> None:
    _, chunks = feed(
        [
            ("messageStart", {"role": "assistant"}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Hmm, "}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"text": "Paris."}}}),
            ("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"reasoningContent": {"signature": "sig"}}}),
            ("contentBlockDelta", {"contentBlockIndex": 1, "delta": {"reasoningContent": {"redactedContent": "eA=="}}}),
            ("contentBlockStop", {"contentBlockIndex": 0}),
            ("contentBlockDelta", {"contentBlockIndex": 2, "delta": {"text": "Paris"}}),
            ("messageStop", {"stopReason": "end_turn"}),
        ]
    )
    assert [c["choices"][0]["delta"] for c in chunks] == [
        {"role": "assistant", "content": ""},
        {"reasoning_content": "Hmm, "},
        {"reasoning_content": "Paris."},
        {"content": "Paris"},
        {},
    ]


def test_usage_with_cache_tokens_and_unknown_events() -> None:
    usage = {"inputTokens": 3, "outputTokens": 4, "totalTokens": 57, "cacheReadInputTokens": 50}
    stream, chunks = feed(
        [
            ("messageStart", {"role": "assistant"}),
            ("somethingNew", {"x": 1}),
            ("messageStop", {"stopReason": "max_tokens"}),
            ("metadata", {"usage": usage, "metrics": {"latencyMs": 9}}),
        ]
    )
    assert chunks[1]["choices"][0]["finish_reason"] == "length"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"] == {
        "prompt_tokens": 53,
        "completion_tokens": 4,
        "total_tokens": 57,
        "prompt_tokens_details": {"cached_tokens": 50},
    }
    assert len(chunks) == 3
    assert {c["id"] for c in chunks} == {stream.id}


def test_a_delta_before_message_start_still_opens_with_the_role() -> None:
    _, chunks = feed([("contentBlockDelta", {"contentBlockIndex": 0, "delta": {"text": "x"}})])
    assert [c["choices"][0]["delta"] for c in chunks] == [{"role": "assistant", "content": ""}, {"content": "x"}]


@pytest.mark.parametrize("behaviour", [{}, {"tool_call": True}, {"thinking": True}, {"chunks": 9}])
def test_the_fake_s_stream_adds_up_to_its_whole_answer(behaviour: dict[str, Any]) -> None:
    request = {
        "messages": [{"role": "user", "content": [{"text": "Weather in Paris?"}]}],
        "toolConfig": {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]},
    }
    whole = converse_answer(request, "fake-model", behaviour)
    expected = converse_response_to_chat(whole, "m")["choices"][0]
    stream, chunks = feed(converse_stream_events(whole, behaviour))
    content = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks if c["choices"])
    reasoning = "".join(c["choices"][0]["delta"].get("reasoning_content") or "" for c in chunks if c["choices"])
    calls: dict[int, dict[str, Any]] = {}
    for c in chunks:
        for call in c["choices"][0]["delta"].get("tool_calls", []) if c["choices"] else []:
            slot = calls.setdefault(call["index"], {"id": call.get("id"), "name": "", "arguments": ""})
            slot["name"] += call["function"].get("name", "")
            slot["arguments"] += call["function"]["arguments"]
    assert content == (expected["message"]["content"] or "")
    assert reasoning == expected["message"].get("reasoning_content", "")
    assert [(c["id"], c["name"], json.loads(c["arguments"])) for c in calls.values()] == [
        (t["id"], t["function"]["name"], json.loads(t["function"]["arguments"]))
        for t in expected["message"].get("tool_calls", [])
    ]
    assert len(calls) == (1 if behaviour.get("tool_call") else 0)
    assert stream.finish_reason == expected["finish_reason"]
    assert stream.usage == converse_response_to_chat(whole, "m")["usage"]
    assert stream.done
