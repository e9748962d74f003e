"""Chat Completions -> Bedrock Converse requests: every rule of app.translate.converse.request."""

from __future__ import annotations

from typing import Any

import pytest

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.translate.converse.request import chat_request_to_converse
from tests.fakes.bedrock_converse import validate_converse

PNG = "iVBORw0KGgo="
PDF = "JVBERi0xLjQ="
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def user(content: Any) -> dict[str, Any]:
    return {"role": "user", "content": content}


def assistant(content: Any, *calls: tuple[str, str, str]) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": content}
    if calls:
        message["tool_calls"] = [
            {"id": i, "type": "function", "function": {"name": n, "arguments": a}} for i, n, a in calls
        ]
    return message


def tool(call_id: str, content: Any) -> dict[str, Any]:
    return {"role": "tool", "tool_call_id": call_id, "content": content}


def translate(messages: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    out = chat_request_to_converse({"model": "bedrock/x", "stream": True, "messages": messages, **extra})
    assert validate_converse(out) is None, validate_converse(out)  # whatever we send, the fake Bedrock accepts
    return out


# -- messages ---------------------------------------------------------------------------------------------


def test_plain_text_has_no_model_or_stream() -> None:
    out = translate([user("Hi")], stream_options={"include_usage": True})
    assert out == {"messages": [{"role": "user", "content": [{"text": "Hi"}]}]}


def test_system_and_developer_wherever_they_stand() -> None:
    out = translate(
        [
            {"role": "system", "content": "Be brief."},
            user("Hi"),
            {"role": "developer", "content": [{"type": "text", "text": "Use "}, {"type": "text", "text": "French."}]},
            {"role": "system", "content": "  "},
        ]
    )
    assert out["system"] == [{"text": "Be brief."}, {"text": "Use French."}]
    assert out["messages"] == [{"role": "user", "content": [{"text": "Hi"}]}]


def test_same_role_messages_merge_and_empty_text_is_dropped() -> None:
    out = translate(
        [
            user("one"),
            user([{"type": "text", "text": "two"}, {"type": "text", "text": ""}, {"type": "text", "text": " "}]),
            assistant("three"),
            assistant(""),
            assistant(None),
            user(""),
            user("four"),
        ]
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "one"}, {"text": "two"}]},
        {"role": "assistant", "content": [{"text": "three"}]},
        {"role": "user", "content": [{"text": "four"}]},
    ]


def test_a_conversation_the_assistant_opens_is_invalid() -> None:
    with pytest.raises(InvalidRequestError, match="start with a user message") as caught:
        chat_request_to_converse({"messages": [{"role": "system", "content": "s"}, assistant("hello"), user("hi")]})
    assert caught.value.param == "messages"


@pytest.mark.parametrize(
    "messages",
    [None, [], "hello", [None], ["hi"], [{"role": "system", "content": "only a system prompt"}]],
)
def test_bad_messages_are_invalid(messages: Any) -> None:
    body = {"model": "m"} if messages is None else {"model": "m", "messages": messages}
    with pytest.raises(InvalidRequestError) as caught:
        chat_request_to_converse(body)
    assert caught.value.param == "messages"
    assert not isinstance(caught.value, UnsupportedFeatureError)


def test_unknown_role_is_invalid() -> None:
    with pytest.raises(InvalidRequestError, match="'function'"):
        chat_request_to_converse({"messages": [{"role": "function", "content": "x", "name": "f"}]})


def test_images_and_documents() -> None:
    out = translate(
        [
            user(
                [
                    {"type": "text", "text": "look"},
                    {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}", "detail": "high"}},
                    {"type": "image_url", "image_url": {"url": f"data:image/jpg;base64,{PNG}"}},
                    {"type": "image_url", "image_url": {"url": f"data:image/webp;base64,{PNG}"}},
                    {"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}", "filename": "a.pdf"}},
                ]
            ),
            assistant("Seen."),
            user([{"type": "file", "file": {"file_data": f"data:application/pdf;base64,{PDF}"}}, "and this"]),
        ]
    )
    assert out["messages"][0]["content"] == [
        {"text": "look"},
        {"image": {"format": "png", "source": {"bytes": PNG}}},
        {"image": {"format": "jpeg", "source": {"bytes": PNG}}},
        {"image": {"format": "webp", "source": {"bytes": PNG}}},
        {"document": {"format": "pdf", "name": "document-1", "source": {"bytes": PDF}}},
    ]
    assert out["messages"][2]["content"] == [
        {"document": {"format": "pdf", "name": "document-2", "source": {"bytes": PDF}}},
        {"text": "and this"},
    ]


def test_text_documents_are_accepted_too() -> None:
    out = translate([user([{"type": "file", "file": {"file_data": "data:text/plain;base64,aGk="}}])])
    assert out["messages"][0]["content"] == [
        {"document": {"format": "txt", "name": "document-1", "source": {"bytes": "aGk="}}}
    ]


@pytest.mark.parametrize(
    ("part", "feature"),
    [
        ({"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}, "image URLs"),
        ({"type": "image_url", "image_url": {"url": f"data:image/tiff;base64,{PNG}"}}, "image type 'image/tiff'"),
        ({"type": "file", "file": {"file_id": "file-123"}}, "file inputs without inline file_data"),
        ({"type": "file", "file": {"file_data": "data:audio/wav;base64,UklGRg=="}}, "file type 'audio/wav'"),
        ({"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}}, "'input_audio'"),
    ],
)
def test_unsupported_parts(part: dict[str, Any], feature: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        chat_request_to_converse({"messages": [user([part])]})
    assert feature in caught.value.detail
    assert "Bedrock Converse" in caught.value.detail


def test_non_text_parts_in_system_messages_are_unsupported() -> None:
    part = {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{PNG}"}}
    with pytest.raises(UnsupportedFeatureError, match="'image_url' in this message role"):
        chat_request_to_converse({"messages": [{"role": "system", "content": [part]}, user("hi")]})


# -- tools -------------------------------------------------------------------------------------------------


def test_tool_round_trip_pairs_tool_use_ids() -> None:
    out = translate(
        [
            user("Weather in Paris and Tokyo?"),
            assistant(
                "Checking.",
                ("call_1", "get_weather", '{"city": "Paris"}'),
                ("call_2", "get_weather", '{"city":"Tokyo"}'),
            ),
            tool("call_1", "18C"),
            tool("call_2", [{"type": "text", "text": "25"}, {"type": "text", "text": "C"}]),
            user("Which is warmer?"),
        ],
        tools=[WEATHER],
    )
    assert out["messages"] == [
        {"role": "user", "content": [{"text": "Weather in Paris and Tokyo?"}]},
        {
            "role": "assistant",
            "content": [
                {"text": "Checking."},
                {"toolUse": {"toolUseId": "call_1", "name": "get_weather", "input": {"city": "Paris"}}},
                {"toolUse": {"toolUseId": "call_2", "name": "get_weather", "input": {"city": "Tokyo"}}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"toolResult": {"toolUseId": "call_1", "content": [{"text": "18C"}]}},
                {"toolResult": {"toolUseId": "call_2", "content": [{"text": "25C"}]}},
                {"text": "Which is warmer?"},
            ],
        },
    ]
    assert out["toolConfig"] == {
        "tools": [
            {
                "toolSpec": {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "inputSchema": {"json": WEATHER["function"]["parameters"]},  # type: ignore[index]
                }
            }
        ]
    }


def test_tool_results_go_before_user_text_already_in_the_turn() -> None:
    out = translate(
        [user("q"), assistant(None, ("c1", "f", "")), user("also this"), tool("c1", "done")],
        tools=[{"type": "function", "function": {"name": "f"}}],
    )
    assert out["messages"][1]["content"] == [{"toolUse": {"toolUseId": "c1", "name": "f", "input": {}}}]
    assert out["messages"][2]["content"] == [
        {"toolResult": {"toolUseId": "c1", "content": [{"text": "done"}]}},
        {"text": "also this"},
    ]
    assert out["toolConfig"]["tools"] == [
        {"toolSpec": {"name": "f", "inputSchema": {"json": {"type": "object", "properties": {}}}}}
    ]


def test_reasoning_content_in_history_is_dropped() -> None:
    message = {**assistant("Answer."), "reasoning_content": "I thought hard."}
    out = translate([user("q"), message, user("more")])
    assert out["messages"][1] == {"role": "assistant", "content": [{"text": "Answer."}]}


@pytest.mark.parametrize("arguments", ["{not json", "[1, 2]"])
def test_tool_call_arguments_must_be_a_json_object(arguments: str) -> None:
    with pytest.raises(InvalidRequestError, match="JSON object") as caught:
        chat_request_to_converse({"messages": [user("q"), assistant(None, ("c1", "f", arguments))]})
    assert not isinstance(caught.value, UnsupportedFeatureError)


def test_history_without_tools_gets_synthesized_tool_specs() -> None:
    out = translate(
        [
            user("q"),
            assistant(None, ("c1", "lookup", "{}"), ("c2", "search", '{"q": "x"}'), ("c3", "lookup", "{}")),
            tool("c1", "a"),
            tool("c2", "b"),
            tool("c3", "c"),
        ]
    )
    assert out["toolConfig"] == {
        "tools": [
            {"toolSpec": {"name": "lookup", "inputSchema": {"json": {"type": "object"}}}},
            {"toolSpec": {"name": "search", "inputSchema": {"json": {"type": "object"}}}},
        ]
    }


@pytest.mark.parametrize(
    ("choice", "expected"),
    [
        (None, None),
        ("auto", {"auto": {}}),
        ("required", {"any": {}}),
        ({"type": "function", "function": {"name": "get_weather"}}, {"tool": {"name": "get_weather"}}),
    ],
)
def test_tool_choice(choice: Any, expected: dict[str, Any] | None) -> None:
    extra = {} if choice is None else {"tool_choice": choice}
    out = translate([user("q")], tools=[WEATHER], **extra)
    assert out["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert out["toolConfig"].get("toolChoice") == expected


def test_tool_choice_none_drops_the_tool_config() -> None:
    assert "toolConfig" not in translate([user("q")], tools=[WEATHER], tool_choice="none")


def test_tool_choice_none_keeps_tools_when_the_history_uses_them() -> None:
    out = translate(
        [user("q"), assistant(None, ("c1", "get_weather", '{"city":"Paris"}')), tool("c1", "18C")],
        tools=[WEATHER],
        tool_choice="none",
    )
    assert out["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert "toolChoice" not in out["toolConfig"]


@pytest.mark.parametrize(
    ("tools", "error"),
    [
        ([{"type": "web_search"}], UnsupportedFeatureError),
        ([{"type": "function", "function": {"description": "no name"}}], InvalidRequestError),
    ],
)
def test_bad_tools(tools: list[dict[str, Any]], error: type[Exception]) -> None:
    with pytest.raises(error) as caught:
        chat_request_to_converse({"messages": [user("q")], "tools": tools})
    assert caught.value.param == "tools"  # type: ignore[attr-defined]


# -- inference settings ----------------------------------------------------------------------------------


def test_inference_config() -> None:
    out = translate(
        [user("q")],
        max_completion_tokens=300,
        max_tokens=100,
        temperature=0.2,
        top_p=0.9,
        stop=["END", "STOP"],
        seed=7,
        presence_penalty=0.5,
        frequency_penalty=0.5,
        user="u1",
        metadata={"a": "b"},
        store=False,
        service_tier="auto",
        parallel_tool_calls=True,
        safety_identifier="s",
        prompt_cache_key="k",
        n=1,
        logprobs=False,
        logit_bias={},
        response_format={"type": "text"},
    )
    assert out == {
        "messages": [{"role": "user", "content": [{"text": "q"}]}],
        "inferenceConfig": {"maxTokens": 300, "temperature": 0.2, "topP": 0.9, "stopSequences": ["END", "STOP"]},
    }


def test_max_tokens_and_stop_as_a_string() -> None:
    out = translate([user("q")], max_tokens=50, stop="\n\n")
    assert out["inferenceConfig"] == {"maxTokens": 50, "stopSequences": ["\n\n"]}


def test_top_k_goes_to_additional_model_request_fields() -> None:
    out = translate([user("q")], top_k=40)
    assert out["additionalModelRequestFields"] == {"top_k": 40}
    assert "inferenceConfig" not in out


@pytest.mark.parametrize(
    ("extra", "feature"),
    [
        ({"n": 2}, "n other than 1"),
        ({"logprobs": True}, "logprobs"),
        ({"top_logprobs": 3}, "top_logprobs"),
        ({"logit_bias": {"50256": -100}}, "logit_bias"),
        ({"response_format": {"type": "json_object"}}, "response_format 'json_object'"),
        (
            {"response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}}},
            "response_format 'json_schema'",
        ),
        ({"modalities": ["text", "audio"]}, "audio output"),
        ({"audio": {"voice": "alloy", "format": "mp3"}}, "audio"),
        ({"prediction": {"type": "content", "content": "x"}}, "prediction"),
        ({"web_search_options": {}}, "web_search_options"),
        ({"reasoning_effort": "high"}, "reasoning_effort"),
        ({"functions": [{"name": "f"}]}, "functions"),
        ({"tool_choice": "sometimes", "tools": [WEATHER]}, "tool_choice 'sometimes'"),
    ],
)
def test_unsupported_features_name_themselves(extra: dict[str, Any], feature: str) -> None:
    with pytest.raises(UnsupportedFeatureError) as caught:
        chat_request_to_converse({"messages": [user("q")], **extra})
    assert caught.value.detail.startswith(feature)
    assert caught.value.detail.endswith("is not supported by Bedrock Converse upstreams")
    assert caught.value.status == 400
