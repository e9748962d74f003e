"""Chat Completions <-> Gemini translation: golden cases and properties."""

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.translate.gemini.embeddings import chat_embeddings_to_gemini, gemini_embeddings_to_openai
from app.translate.gemini.request import chat_request_to_gemini
from app.translate.gemini.response import GeminiToChatStream, chat_usage_from_gemini, gemini_response_to_chat
from app.translate.gemini.schema import clean_schema
from tests.fakes.gemini import validate_generate

MODEL = "gemini-2.5-flash"


def user(text: Any) -> dict[str, Any]:
    return {"role": "user", "content": text}


def translate(messages: list[dict[str, Any]], model: str = MODEL, **extra: Any) -> dict[str, Any]:
    out = chat_request_to_gemini({"model": "gemini/x", "messages": messages, **extra}, model)
    validate_generate(out)  # whatever we send, the wire-exact fake must accept
    return out


# -- requests: messages -----------------------------------------------------------------------


def test_text_with_system_and_developer() -> None:
    out = translate(
        [
            {"role": "system", "content": "Be brief."},
            user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Use French."}]},
        ]
    )
    assert out == {
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "systemInstruction": {"parts": [{"text": "Be brief."}, {"text": "Use French."}]},
    }


def test_multi_turn_merges_same_role_and_drops_empty() -> None:
    out = translate(
        [
            user("one"),
            user([{"type": "text", "text": "two"}, {"type": "text", "text": ""}]),
            {"role": "assistant", "content": "three"},
            {"role": "assistant", "content": ""},
            {"role": "assistant", "content": None},
            user("four"),
        ]
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}]},
        {"role": "user", "parts": [{"text": "four"}]},
    ]


def test_images_audio_and_files() -> None:
    png = base64.b64encode(b"\x89PNG").decode()
    out = translate(
        [
            user(
                [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/cat.JPG?x=1"}},
                    {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
                    {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                    {"type": "file", "file": {"file_data": "data:application/pdf;base64,JVBERg==", "filename": "a"}},
                ]
            )
        ]
    )
    assert out["contents"][0]["parts"] == [
        {"text": "look"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/cat.JPG?x=1"}},
        {"fileData": {"mimeType": "image/*", "fileUri": "https://example.com/render"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERg=="}},
    ]


def _tool_conversation() -> list[dict[str, Any]]:
    calls = [
        {"id": "call_a", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}},
        {"id": "call_b", "type": "function", "function": {"name": "get_time", "arguments": ""}},
    ]
    return [
        user("Weather and time?"),
        {"role": "assistant", "content": None, "reasoning_content": "hmm", "tool_calls": calls},
        {"role": "tool", "tool_call_id": "call_b", "content": "noon"},
        {"role": "tool", "tool_call_id": "call_a", "content": '{"temp": 21}'},
        user("Thanks"),
    ]


def test_parallel_tool_calls_and_results() -> None:
    out = translate(_tool_conversation())
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "Weather and time?"}]},
        {
            "role": "model",
            "parts": [
                {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}},
                {"functionCall": {"name": "get_time", "args": {}}},
            ],
        },
        {
            "role": "user",
            "parts": [
                {"functionResponse": {"name": "get_time", "response": {"content": "noon"}}},
                {"functionResponse": {"name": "get_weather", "response": {"content": {"temp": 21}}}},
                {"text": "Thanks"},
            ],
        },
    ]


def test_gemini_3_function_calls_carry_the_documented_dummy_signature() -> None:
    out = translate(_tool_conversation(), model="gemini-3-pro-preview")
    parts = out["contents"][1]["parts"]
    assert parts[0]["thoughtSignature"] == "skip_thought_signature_validator"
    assert "thoughtSignature" not in parts[1]


def test_tool_call_ids_reused_across_turns_pair_with_the_latest_call() -> None:
    def call(name: str) -> dict[str, Any]:
        return {"id": "call_0", "type": "function", "function": {"name": name, "arguments": "{}"}}

    out = translate(
        [
            user("go"),
            {"role": "assistant", "tool_calls": [call("first")]},
            {"role": "tool", "tool_call_id": "call_0", "content": "1"},
            {"role": "assistant", "tool_calls": [call("second")]},
            {"role": "tool", "tool_call_id": "call_0", "content": "2"},
        ]
    )
    responses = [p["functionResponse"] for c in out["contents"] for p in c["parts"] if "functionResponse" in p]
    assert responses == [
        {"name": "first", "response": {"content": 1}},
        {"name": "second", "response": {"content": 2}},
    ]


# -- requests: tools, config, schemas ---------------------------------------------------------


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "strict": True,
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "city": {"type": "string", "format": "uri", "examples": ["Paris"]},
                "unit": {"anyOf": [{"$ref": "#/$defs/Unit"}, {"type": "null"}], "default": None},
                "days": {"type": ["integer", "null"], "minimum": 1},
                "tags": {"type": "array", "items": {"type": "string", "const": "x"}},
                "mixed": {"type": ["string", "number"]},
                "when": {"type": "string", "format": "date-time"},
            },
            "required": ["city"],
            "$defs": {"Unit": {"type": "string", "enum": ["C", "F"], "title": "Unit"}},
        },
    },
}


def test_tools_are_declared_with_cleaned_schemas() -> None:
    bare = {"type": "function", "function": {"name": "ping", "parameters": {"type": "object", "properties": {}}}}
    out = translate([user("hi")], tools=[WEATHER_TOOL, bare])
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "city": {"type": "string"},
                            "unit": {
                                "type": "string",
                                "enum": ["C", "F"],
                                "title": "Unit",
                                "nullable": True,
                                "default": None,
                            },
                            "days": {"nullable": True, "type": "integer", "minimum": 1},
                            "tags": {"type": "array", "items": {"type": "string", "enum": ["x"]}},
                            "mixed": {"anyOf": [{"type": "string"}, {"type": "number"}]},
                            "when": {"type": "string", "format": "date-time"},
                        },
                        "required": ["city"],
                    },
                },
                {"name": "ping"},
            ]
        }
    ]


def test_schema_all_of_and_definitions_are_inlined() -> None:
    schema = {
        "definitions": {"Base": {"type": "object", "properties": {"a": {"type": "string"}}}},
        "allOf": [{"$ref": "#/definitions/Base"}],
        "description": "d",
        "not": {"type": "null"},
        "patternProperties": {"^x": {}},
    }
    assert clean_schema(schema) == {"type": "object", "properties": {"a": {"type": "string"}}, "description": "d"}


def test_schema_keeps_properties_and_required_on_objects_only() -> None:
    schema = {
        "type": "object",
        "properties": {
            "implicit": {"properties": {"a": {"type": "string"}}, "required": ["a", "ghost"]},
            "text": {"type": "string", "properties": {"x": {"type": "string"}}, "required": ["x"]},
            "free": {"type": "object", "additionalProperties": {"type": "string"}, "required": []},
        },
        "required": ["implicit", "missing"],
    }
    assert clean_schema(schema) == {
        "type": "object",
        "properties": {
            "implicit": {"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
            "text": {"type": "string"},
            "free": {"type": "object"},
        },
        "required": ["implicit"],
    }


@pytest.mark.parametrize(
    ("choice", "config"),
    [
        ("auto", {"mode": "AUTO"}),
        ("none", {"mode": "NONE"}),
        ("required", {"mode": "ANY"}),
        (
            {"type": "function", "function": {"name": "get_weather"}},
            {"mode": "ANY", "allowedFunctionNames": ["get_weather"]},
        ),
    ],
)
def test_tool_choice(choice: Any, config: dict[str, Any]) -> None:
    out = translate([user("hi")], tools=[WEATHER_TOOL], tool_choice=choice)
    assert out["toolConfig"] == {"functionCallingConfig": config}


def test_generation_config() -> None:
    out = translate(
        [user("hi")],
        temperature=0.3,
        top_p=0.9,
        max_tokens=100,
        max_completion_tokens=50,
        stop="END",
        n=2,
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=-0.5,
        reasoning_effort="high",
        user="u-1",
        metadata={"a": "b"},
        parallel_tool_calls=False,
        stream=True,
        stream_options={"include_usage": True},
        logprobs=False,
    )
    assert out["generationConfig"] == {
        "temperature": 0.3,
        "topP": 0.9,
        "candidateCount": 2,
        "seed": 7,
        "presencePenalty": 0.5,
        "frequencyPenalty": -0.5,
        "maxOutputTokens": 50,
        "stopSequences": ["END"],
        "thinkingConfig": {"thinkingBudget": 24576, "includeThoughts": True},
    }
    assert set(out) == {"contents", "generationConfig"}


def test_response_format_json_schema_and_json_object() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "additionalProperties": False}
    fmt = {"type": "json_schema", "json_schema": {"name": "x", "strict": True, "schema": schema}}
    out = translate([user("hi")], response_format=fmt, max_tokens=9, stop=["a", "b"])
    assert out["generationConfig"] == {
        "maxOutputTokens": 9,
        "stopSequences": ["a", "b"],
        "responseMimeType": "application/json",
        "responseSchema": {"type": "object", "properties": {"n": {"type": "integer"}}},
    }
    out = translate([user("hi")], response_format={"type": "json_object"})
    assert out["generationConfig"] == {"responseMimeType": "application/json"}
    assert "generationConfig" not in translate([user("hi")], response_format={"type": "text"})


@pytest.mark.parametrize(
    ("effort", "thinking"),
    [
        ("none", {"thinkingBudget": 0}),
        ("minimal", {"thinkingBudget": 512, "includeThoughts": True}),
        ("low", {"thinkingBudget": 1024, "includeThoughts": True}),
        ("medium", {"thinkingBudget": 8192, "includeThoughts": True}),
        ("high", {"thinkingBudget": 24576, "includeThoughts": True}),
    ],
)
def test_reasoning_effort(effort: str, thinking: dict[str, Any]) -> None:
    out = translate([user("hi")], reasoning_effort=effort)
    assert out["generationConfig"] == {"thinkingConfig": thinking}


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"audio": {"voice": "alloy", "format": "wav"}}, "audio"),
        ({"modalities": ["text", "audio"]}, "audio output"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"tools": [{"type": "custom", "custom": {"name": "x"}}]}, "tool type 'custom'"),
        ({"response_format": {"type": "grammar"}}, "response_format 'grammar'"),
        ({"messages": [user([{"type": "file", "file": {"file_id": "file-1"}}])]}, "file inputs"),
        ({"messages": [user([{"type": "video_url", "video_url": {}}])]}, "content part 'video_url'"),
    ],
)
def test_unsupported_features_raise(extra: dict[str, Any], feature: str) -> None:
    body = {"model": "m", "messages": [user("hi")], **extra}
    with pytest.raises(UnsupportedFeatureError) as info:
        chat_request_to_gemini(body, MODEL)
    assert feature in info.value.detail
    assert "Gemini" in info.value.detail
    assert info.value.status == 400


@pytest.mark.parametrize(
    "messages",
    [
        [],
        [{"role": "function", "content": "x"}],
        [user("x"), {"role": "tool", "tool_call_id": "nope", "content": "1"}],
        [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "[1]"}}]}],
        [{"role": "assistant", "tool_calls": [{"id": "a", "function": {"name": "f", "arguments": "{bad"}}]}],
        [user([{"type": "image_url", "image_url": {"url": "ftp://x/y.png"}}])],
    ],
)
def test_invalid_requests_raise(messages: list[dict[str, Any]]) -> None:
    with pytest.raises(InvalidRequestError):
        chat_request_to_gemini({"messages": messages}, MODEL)


# -- responses --------------------------------------------------------------------------------


USAGE = {
    "promptTokenCount": 100,
    "candidatesTokenCount": 20,
    "thoughtsTokenCount": 30,
    "cachedContentTokenCount": 64,
    "totalTokenCount": 150,
}
CHAT_USAGE = {
    "prompt_tokens": 100,
    "completion_tokens": 50,
    "total_tokens": 150,
    "prompt_tokens_details": {"cached_tokens": 64},
    "completion_tokens_details": {"reasoning_tokens": 30},
}


def test_text_response() -> None:
    resp = {
        "candidates": [
            {
                "content": {"role": "model", "parts": [{"text": "Hello"}, {"text": " there"}]},
                "finishReason": "STOP",
                "index": 0,
            }
        ],
        "usageMetadata": USAGE,
        "modelVersion": "gemini-2.5-flash",
        "responseId": "abc123",
    }
    assert gemini_response_to_chat(resp, "gem/gemini-2.5-flash", created=1700000000) == {
        "id": "chatcmpl-abc123",
        "object": "chat.completion",
        "created": 1700000000,
        "model": "gem/gemini-2.5-flash",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Hello there", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": CHAT_USAGE,
    }


def test_thoughts_and_parallel_function_calls() -> None:
    parts = [
        {"text": "Thinking...", "thought": True},
        {"functionCall": {"name": "get_weather", "args": {"city": "Paris"}}, "thoughtSignature": "c2ln"},
        {"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}, "id": "upstream-7"}},
    ]
    resp = {"candidates": [{"content": {"role": "model", "parts": parts}, "finishReason": "STOP"}]}
    choice = gemini_response_to_chat(resp, "m")["choices"][0]
    assert choice == {
        "index": 0,
        "message": {
            "role": "assistant",
            "content": None,
            "refusal": None,
            "reasoning_content": "Thinking...",
            "tool_calls": [
                {
                    "id": "call_0",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'},
                },
                {
                    "id": "upstream-7",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": '{"city":"Tokyo"}'},
                },
            ],
        },
        "logprobs": None,
        "finish_reason": "tool_calls",
    }


@pytest.mark.parametrize(
    ("reason", "finish"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("SPII", "content_filter"),
        ("OTHER", "stop"),
        ("MALFORMED_FUNCTION_CALL", "stop"),
    ],
)
def test_finish_reasons(reason: str, finish: str) -> None:
    resp = {"candidates": [{"content": {"parts": [{"text": "x"}]}, "finishReason": reason}]}
    assert gemini_response_to_chat(resp, "m")["choices"][0]["finish_reason"] == finish


def test_safety_finish_without_content() -> None:
    resp = {"candidates": [{"finishReason": "SAFETY", "index": 0, "safetyRatings": []}]}
    choice = gemini_response_to_chat(resp, "m")["choices"][0]
    assert choice["message"]["content"] == ""
    assert choice["finish_reason"] == "content_filter"


def test_prompt_block_gives_one_content_filter_choice() -> None:
    resp = {"promptFeedback": {"blockReason": "SAFETY"}, "usageMetadata": {"promptTokenCount": 5, "totalTokenCount": 5}}
    out = gemini_response_to_chat(resp, "m")
    assert out["choices"] == [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "", "refusal": None},
            "logprobs": None,
            "finish_reason": "content_filter",
        }
    ]
    assert out["usage"]["prompt_tokens"] == 5
    assert out["usage"]["completion_tokens"] == 0
    assert out["id"].startswith("chatcmpl-")


def test_several_candidates_become_several_choices() -> None:
    resp = {
        "candidates": [
            {"content": {"parts": [{"text": "a"}]}, "finishReason": "STOP", "index": 0},
            {"content": {"parts": [{"text": "b"}]}, "finishReason": "MAX_TOKENS", "index": 1},
        ]
    }
    choices = gemini_response_to_chat(resp, "m")["choices"]
    assert [(c["index"], c["message"]["content"], c["finish_reason"]) for c in choices] == [
        (0, "a", "stop"),
        (1, "b", "length"),
    ]


def test_usage_counts_tool_use_prompt_and_defaults_to_zero() -> None:
    usage = chat_usage_from_gemini({"promptTokenCount": 10, "toolUsePromptTokenCount": 5, "candidatesTokenCount": 2})
    assert usage["prompt_tokens"] == 15
    assert usage["total_tokens"] == 17
    assert chat_usage_from_gemini(None) == {
        "prompt_tokens": 0,
        "completion_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0},
    }


# -- streams ----------------------------------------------------------------------------------


def fragment(
    parts: list[dict[str, Any]] | None, finish: str | None = None, usage: dict[str, Any] | None = None
) -> dict[str, Any]:
    candidate: dict[str, Any] = {"index": 0}
    if parts is not None:
        candidate["content"] = {"role": "model", "parts": parts}
    if finish:
        candidate["finishReason"] = finish
    out: dict[str, Any] = {"candidates": [candidate], "responseId": "r1", "modelVersion": "x"}
    if usage is not None:
        out["usageMetadata"] = usage
    return out


def test_text_stream_golden() -> None:
    stream = GeminiToChatStream(public_model="gem/x", created=1)
    chunks = stream.feed(fragment([{"text": "Hel"}], usage={"promptTokenCount": 100, "candidatesTokenCount": 1}))
    assert not stream.done
    chunks += stream.feed(fragment([{"text": "lo"}], "STOP", USAGE))
    assert stream.done
    head = {"id": "chatcmpl-r1", "object": "chat.completion.chunk", "created": 1, "model": "gem/x"}

    def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {**head, "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    assert chunks == [
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}),
        chunk({"content": "lo"}),
        chunk({}, "stop"),
    ]
    assert stream.finish() == [{**head, "choices": [], "usage": CHAT_USAGE}]
    assert (stream.text, stream.finish_reason, stream.usage) == ("Hello", "stop", CHAT_USAGE)


def test_stream_thoughts_and_tool_calls() -> None:
    stream = GeminiToChatStream(public_model="m", created=1)
    chunks = stream.feed(fragment([{"text": "plan", "thought": True}]))
    chunks += stream.feed(fragment([{"functionCall": {"name": "f", "args": {"a": 1}}}]))
    chunks += stream.feed(fragment([{"functionCall": {"name": "g", "args": {}}}], "STOP"))
    deltas = [(c["choices"][0]["delta"], c["choices"][0]["finish_reason"]) for c in chunks]
    assert deltas == [
        ({"role": "assistant", "content": ""}, None),
        ({"reasoning_content": "plan"}, None),
        (
            {
                "tool_calls": [
                    {"index": 0, "id": "call_0", "type": "function", "function": {"name": "f", "arguments": '{"a":1}'}}
                ]
            },
            None,
        ),
        (
            {
                "tool_calls": [
                    {"index": 1, "id": "call_1", "type": "function", "function": {"name": "g", "arguments": "{}"}}
                ]
            },
            None,
        ),
        ({}, "tool_calls"),
    ]
    assert stream.finish_reason == "tool_calls"
    assert stream.text == ""


def test_stream_prompt_block_and_missing_finish() -> None:
    blocked = GeminiToChatStream(public_model="m")
    chunks = blocked.feed(
        {"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}, "usageMetadata": {"promptTokenCount": 3}}
    )
    assert [c["choices"][0]["finish_reason"] for c in chunks] == [None, "content_filter"]
    assert blocked.done
    assert blocked.finish()[0]["usage"]["prompt_tokens"] == 3

    cut = GeminiToChatStream(public_model="m")
    cut.feed(fragment([{"text": "partial"}]))
    assert not cut.done
    assert cut.finish_reason is None
    assert cut.finish()[0]["usage"]["total_tokens"] == 0


def test_stream_error_payload_is_kept_for_the_caller() -> None:
    stream = GeminiToChatStream(public_model="m")
    stream.feed(fragment([{"text": "a"}]))
    error = {"code": 503, "message": "overloaded", "status": "UNAVAILABLE"}
    assert stream.feed({"error": error}) == []
    assert stream.error == error
    assert not stream.done


def test_function_tool_without_a_name_is_invalid() -> None:
    with pytest.raises(InvalidRequestError):
        chat_request_to_gemini({"messages": [user("x")], "tools": [{"type": "function", "function": {}}]}, MODEL)


def test_stream_usage_is_the_latest_not_a_sum() -> None:
    stream = GeminiToChatStream(public_model="m")
    stream.feed(
        fragment([{"text": "a"}], usage={"promptTokenCount": 10, "candidatesTokenCount": 1, "totalTokenCount": 11})
    )
    stream.feed(
        fragment([{"text": "b"}], "STOP", {"promptTokenCount": 10, "candidatesTokenCount": 2, "totalTokenCount": 12})
    )
    assert stream.usage is not None
    assert (stream.usage["prompt_tokens"], stream.usage["completion_tokens"]) == (10, 2)


# -- embeddings -------------------------------------------------------------------------------


def test_embeddings_request() -> None:
    assert chat_embeddings_to_gemini({"input": "hi", "model": "x"}, "text-embedding-004") == {
        "requests": [{"model": "models/text-embedding-004", "content": {"parts": [{"text": "hi"}]}}]
    }
    out = chat_embeddings_to_gemini({"input": ["a", "b"], "dimensions": 256}, "models/e")
    assert out == {
        "requests": [
            {"model": "models/e", "content": {"parts": [{"text": "a"}]}, "outputDimensionality": 256},
            {"model": "models/e", "content": {"parts": [{"text": "b"}]}, "outputDimensionality": 256},
        ]
    }


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ([1, 2, 3], UnsupportedFeatureError),
        ([[1, 2]], UnsupportedFeatureError),
        ([], InvalidRequestError),
        (None, InvalidRequestError),
    ],
)
def test_embeddings_request_rejects_what_gemini_cannot_embed(value: Any, error: type[Exception]) -> None:
    with pytest.raises(error):
        chat_embeddings_to_gemini({"input": value}, "e")


def test_embeddings_response_float_and_base64() -> None:
    resp = {"embeddings": [{"values": [0.5, -1.0]}, {"values": [0.25, 0.0]}]}
    assert gemini_embeddings_to_openai(resp, "gem/e", 7) == {
        "object": "list",
        "data": [
            {"object": "embedding", "index": 0, "embedding": [0.5, -1.0]},
            {"object": "embedding", "index": 1, "embedding": [0.25, 0.0]},
        ],
        "model": "gem/e",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }
    encoded = gemini_embeddings_to_openai(resp, "gem/e", 7, encoding_format="base64")["data"][0]["embedding"]
    assert struct.unpack("<2f", base64.b64decode(encoded)) == (0.5, -1.0)


# -- properties -------------------------------------------------------------------------------

NAMES = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,12}", fullmatch=True)
JSON_SCALARS = st.none() | st.booleans() | st.integers(-1000, 1000) | st.text(max_size=8)
ARGS = st.dictionaries(
    st.text(min_size=1, max_size=6),
    st.recursive(JSON_SCALARS, lambda c: st.lists(c, max_size=3), max_leaves=4),
    max_size=3,
)
TEXT = st.text(min_size=1, max_size=12)


@st.composite
def gemini_parts(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["text", "text", "thought", "call"]))
    if kind == "call":
        return {"functionCall": {"name": draw(NAMES), "args": draw(ARGS)}}
    part: dict[str, Any] = {"text": draw(st.text(max_size=10))}
    if kind == "thought":
        part["thought"] = True
    return part


USAGE_META = st.fixed_dictionaries(
    {"promptTokenCount": st.integers(0, 10**6), "candidatesTokenCount": st.integers(0, 10**5)},
    optional={"thoughtsTokenCount": st.integers(0, 10**5), "cachedContentTokenCount": st.integers(0, 10**5)},
)


@st.composite
def gemini_streams(draw: st.DrawFn) -> list[dict[str, Any]]:
    bodies = draw(st.lists(st.lists(gemini_parts(), max_size=3), min_size=1, max_size=6))
    fragments = []
    for i, parts in enumerate(bodies):
        last = i == len(bodies) - 1
        finish = draw(st.sampled_from(["STOP", "MAX_TOKENS", "SAFETY", "RECITATION", "OTHER"])) if last else None
        usage = draw(USAGE_META) if last else draw(st.none() | USAGE_META)
        fragments.append(fragment(parts if parts or draw(st.booleans()) else None, finish, usage))
    return fragments


def merged(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    parts = [p for f in fragments for p in f["candidates"][0].get("content", {}).get("parts", [])]
    last = fragments[-1]
    candidate = {"content": {"role": "model", "parts": parts}, "finishReason": last["candidates"][0]["finishReason"]}
    return {"candidates": [candidate], "usageMetadata": last["usageMetadata"], "responseId": "r1"}


@settings(max_examples=100, deadline=None)
@given(gemini_streams())
def test_stream_adds_up_to_the_non_stream_translation(fragments: list[dict[str, Any]]) -> None:
    stream = GeminiToChatStream(public_model="m", created=1)
    chunks = [c for f in fragments for c in stream.feed(f)] + stream.finish()
    whole = gemini_response_to_chat(merged(fragments), "m", created=1)
    message = whole["choices"][0]["message"]
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("content") or "" for d in deltas) == (message["content"] or "")
    assert "".join(d.get("reasoning_content") or "" for d in deltas) == message.get("reasoning_content", "")
    streamed_calls = [
        {k: v for k, v in call.items() if k != "index"} for d in deltas for call in d.get("tool_calls", [])
    ]
    assert [call["index"] for d in deltas for call in d.get("tool_calls", [])] == list(range(len(streamed_calls)))
    assert streamed_calls == message.get("tool_calls", [])
    finishes = [c["choices"][0]["finish_reason"] for c in chunks if c["choices"] and c["choices"][0]["finish_reason"]]
    assert finishes == [whole["choices"][0]["finish_reason"]] == [stream.finish_reason]
    assert chunks[-1]["usage"] == whole["usage"] == stream.usage
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    assert stream.done
    assert stream.text == (message["content"] or "")
    assert {c["id"] for c in chunks} == {whole["id"]}


@st.composite
def conversations(draw: st.DrawFn) -> list[dict[str, Any]]:
    messages: list[dict[str, Any]] = [user(draw(TEXT))]
    counter = 0
    for _ in range(draw(st.integers(0, 5))):
        kind = draw(st.sampled_from(["system", "user", "user_parts", "assistant", "tools"]))
        if kind == "system":
            messages.append({"role": draw(st.sampled_from(["system", "developer"])), "content": draw(TEXT)})
        elif kind == "user":
            messages.append(user(draw(TEXT)))
        elif kind == "user_parts":
            messages.append(user([{"type": "text", "text": t} for t in draw(st.lists(TEXT, min_size=1, max_size=3))]))
        elif kind == "assistant":
            messages.append({"role": "assistant", "content": draw(TEXT)})
        else:
            calls = []
            for _ in range(draw(st.integers(1, 3))):
                counter += 1
                arguments = json.dumps(draw(ARGS))
                calls.append(
                    {
                        "id": f"id{counter}",
                        "type": "function",
                        "function": {"name": draw(NAMES), "arguments": arguments},
                    }
                )
            messages.append({"role": "assistant", "content": draw(st.none() | TEXT), "tool_calls": calls})
            for call in draw(st.permutations(calls)):
                output = draw(st.one_of(ARGS.map(json.dumps), TEXT.map(lambda t: "r:" + t)))
                messages.append({"role": "tool", "tool_call_id": call["id"], "content": output})
    return messages


CONFIG = st.fixed_dictionaries(
    {},
    optional={
        "temperature": st.floats(0, 2),
        "top_p": st.floats(0, 1),
        "max_tokens": st.integers(1, 10**5),
        "stop": st.lists(TEXT, min_size=1, max_size=4),
        "n": st.integers(1, 4),
        "seed": st.integers(0, 2**31),
        "presence_penalty": st.floats(-2, 2),
        "frequency_penalty": st.floats(-2, 2),
    },
)
CONFIG_NAMES = {
    "temperature": "temperature",
    "top_p": "topP",
    "max_tokens": "maxOutputTokens",
    "stop": "stopSequences",
    "n": "candidateCount",
    "seed": "seed",
    "presence_penalty": "presencePenalty",
    "frequency_penalty": "frequencyPenalty",
}
ROLES = {"user": "user", "assistant": "model", "tool": "user"}


@settings(max_examples=100, deadline=None)
@given(conversations(), CONFIG)
def test_request_keeps_every_expressible_field(messages: list[dict[str, Any]], config: dict[str, Any]) -> None:
    out = translate(messages, **config)
    system = [m["content"] for m in messages if m["role"] in ("system", "developer")]
    assert [p["text"] for p in out.get("systemInstruction", {}).get("parts", [])] == system

    def texts(message: dict[str, Any]) -> list[str]:
        content = message.get("content")
        return [content] if isinstance(content, str) else [p["text"] for p in content or []]

    said = [t for m in messages if m["role"] in ("user", "assistant") for t in texts(m)]
    parts = [p for c in out["contents"] for p in c["parts"]]
    assert [p["text"] for p in parts if "text" in p] == said

    roles: list[str] = []
    for m in messages:
        if m["role"] in ROLES and (ROLES[m["role"]] != (roles[-1] if roles else None)):
            roles.append(ROLES[m["role"]])
    assert [c["role"] for c in out["contents"]] == roles

    calls = [c for m in messages for c in m.get("tool_calls", [])]
    assert [p["functionCall"] for p in parts if "functionCall" in p] == [
        {"name": c["function"]["name"], "args": json.loads(c["function"]["arguments"])} for c in calls
    ]
    names = {c["id"]: c["function"]["name"] for c in calls}
    expected = [
        (names[m["tool_call_id"]], m["content"] if m["content"].startswith("r:") else json.loads(m["content"]))
        for m in messages
        if m["role"] == "tool"
    ]
    got = [p["functionResponse"] for p in parts if "functionResponse" in p]
    assert [(r["name"], r["response"]["content"]) for r in got] == expected

    assert out.get("generationConfig", {}) == {CONFIG_NAMES[k]: v for k, v in config.items()}


SCALAR_SCHEMAS = st.fixed_dictionaries(
    {"type": st.sampled_from(["string", "integer", "number", "boolean"])},
    optional={
        "format": st.sampled_from(["uri", "email", "date-time", "int64", "double"]),
        "description": TEXT,
        "examples": st.lists(TEXT, max_size=2),
        "$comment": TEXT,
    },
)


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {**schema, "type": [schema["type"], "null"]} if isinstance(schema.get("type"), str) else schema


JSON_SCHEMAS = st.recursive(
    SCALAR_SCHEMAS,
    lambda inner: st.one_of(
        st.fixed_dictionaries(
            {"type": st.just("object"), "properties": st.dictionaries(NAMES, inner, max_size=3)},
            optional={
                "required": st.lists(NAMES, max_size=3),
                "additionalProperties": st.booleans() | inner,
                "$schema": st.just("http://json-schema.org/draft-07/schema#"),
            },
        ),
        st.fixed_dictionaries({"type": st.just("array"), "items": inner}, optional={"minItems": st.integers(0, 3)}),
        st.fixed_dictionaries({"anyOf": st.lists(inner, min_size=1, max_size=3)}),
        st.fixed_dictionaries({"oneOf": st.lists(inner, min_size=1, max_size=3)}),
        inner.map(_nullable),
    ),
    max_leaves=10,
)


@settings(max_examples=100, deadline=None)
@given(st.dictionaries(NAMES, JSON_SCHEMAS, min_size=1, max_size=3), JSON_SCHEMAS)
def test_cleaned_schemas_are_accepted_by_gemini(properties: dict[str, Any], answer: dict[str, Any]) -> None:
    parameters = {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }
    tool = {"type": "function", "function": {"name": "f", "parameters": parameters, "strict": True}}
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": answer}}
    out = translate([user("hi")], tools=[tool], response_format=fmt)  # the fake validates every schema node
    assert set(out["tools"][0]["functionDeclarations"][0]["parameters"]["properties"]) == set(properties)
