"""Legacy completions <-> the chat hub: requests, whole answers and streams (pure functions)."""

from __future__ import annotations

import warnings
from typing import Any

import pytest

from app.errors import UnsupportedFeatureError
from app.translate.completions import (
    ChatToCompletionStream,
    chat_response_to_completion,
    completion_id,
    completions_request_to_chat,
    hook_chat,
)
from app.wire.openai_misc import prompt_kind


def test_the_prompt_becomes_the_one_user_message_and_sampling_passes_on() -> None:
    body = {
        "model": "m",
        "prompt": ["Once"],
        "max_tokens": 9,
        "temperature": 0.2,
        "stop": ["\n"],
        "n": 2,
        "echo": False,
        "stream": True,
        "stream_options": {"include_usage": True},
        "unknown_vendor_field": 1,
    }
    assert completions_request_to_chat(body) == {
        "model": "m",
        "messages": [{"role": "user", "content": "Once"}],
        "max_tokens": 9,
        "temperature": 0.2,
        "stop": ["\n"],
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
    }


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"suffix": "end"}, "suffix"),
        ({"logprobs": 0}, "logprobs"),
        ({"best_of": 2}, "best_of"),
        ({"prompt": [1, 2]}, "prompt"),
        ({"prompt": ["a", "b"]}, "prompt"),
    ],
)
def test_what_chat_cannot_say_is_refused_and_hooks_still_read_text(extra: dict[str, Any], param: str) -> None:
    body = {"model": "m", "prompt": "p", **extra}
    with pytest.raises(UnsupportedFeatureError) as err:
        completions_request_to_chat(body)
    assert err.value.param == param
    # What hooks read is the text all the same, whichever way the request goes.
    texts = body["prompt"] if isinstance(body["prompt"], list) and isinstance(body["prompt"][0], str) else ["p"]
    if param != "prompt" or texts != ["p"]:
        assert hook_chat(body)["messages"] == [{"role": "user", "content": t} for t in texts]


def test_a_chat_answer_reads_as_a_text_completion() -> None:
    chat = {
        "id": "chatcmpl-abc",
        "created": 7,
        "system_fingerprint": "fp",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "world"}, "finish_reason": "length"},
            {"index": 1, "message": {"role": "assistant", "content": None}, "finish_reason": "tool_calls"},
        ],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }
    assert chat_response_to_completion(chat, "p/m", echo="hello ") == {
        "id": "cmpl-abc",
        "object": "text_completion",
        "created": 7,
        "model": "p/m",
        "choices": [
            {"text": "hello world", "index": 0, "logprobs": None, "finish_reason": "length"},
            {"text": "hello ", "index": 1, "logprobs": None, "finish_reason": "stop"},
        ],
        "system_fingerprint": "fp",
        "usage": {"prompt_tokens": 2, "completion_tokens": 1, "total_tokens": 3},
    }


def test_ids_keep_or_gain_the_cmpl_prefix() -> None:
    assert completion_id("chatcmpl-1") == "cmpl-1"
    assert completion_id("cmpl-2") == "cmpl-2"
    assert completion_id("msg_3") == "cmpl-msg_3"
    assert completion_id(None).startswith("cmpl-")


def _chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-s", "created": 5, "model": "x", "choices": choices, **extra}


def test_a_chat_stream_becomes_completion_chunks() -> None:
    t = ChatToCompletionStream("p/m", echo="Q: ", wants_usage=True)
    role = t.feed(_chunk([{"index": 0, "delta": {"role": "assistant", "content": ""}, "finish_reason": None}]))
    assert [c["choices"] for c in role] == [[{"text": "Q: ", "index": 0, "logprobs": None, "finish_reason": None}]]
    assert role[0]["id"] == "cmpl-s" and role[0]["object"] == "text_completion" and role[0]["model"] == "p/m"
    [text] = t.feed(_chunk([{"index": 0, "delta": {"content": "A"}, "finish_reason": None}]))
    assert text["choices"][0]["text"] == "A"  # the echo is sent once
    [end] = t.feed(_chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]))
    assert end["choices"] == [{"text": "", "index": 0, "logprobs": None, "finish_reason": "stop"}]
    usage = {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}
    [last] = t.feed(_chunk([], usage=usage))
    assert last["choices"] == [] and last["usage"] == usage and last["id"] == "cmpl-s"


def test_without_echo_or_usage_a_role_chunk_and_the_usage_chunk_send_nothing() -> None:
    t = ChatToCompletionStream("p/m", echo=None, wants_usage=False)
    assert t.feed(_chunk([{"index": 0, "delta": {"role": "assistant"}, "finish_reason": None}])) == []
    assert t.feed(_chunk([], usage={"prompt_tokens": 1})) == []


@pytest.mark.parametrize(
    ("prompt", "kind"),
    [
        ("x", "text"),
        (["a", "b"], "texts"),
        ([1, 2], "tokens"),
        ([[1], [2, 3]], "token lists"),
        ([1, "a"], None),
        ([[1], []], None),
        ([True], None),
        ([{"a": 1}], None),
    ],
)
def test_prompt_kinds(prompt: Any, kind: str | None) -> None:
    assert prompt_kind(prompt) == kind


def test_token_prompts_give_hooks_nothing_to_read() -> None:
    assert hook_chat({"model": "m", "prompt": [[1, 2]]})["messages"] == []


def test_an_answer_without_usage_is_estimated_from_the_prompt_and_the_text() -> None:
    from app.accounting.tokens import count_tokens, estimate_usage
    from app.gateway.answer_text import answer_text, delta_text

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # bpe_openai reads its data through a deprecated API
        count_tokens("warm up")
    body = {"model": "m", "prompt": ["one two three", "four"]}
    answer = b'{"object":"text_completion","choices":[{"text":"five six","index":0}]}'
    usage = estimate_usage(body, answer_text("completions", answer))
    assert usage.estimated and usage.prompt_tokens == count_tokens("one two three\nfour")
    assert usage.completion_tokens == count_tokens("five six")
    assert delta_text("completions", b'data: {"choices":[{"text":" seven","index":0}]}\n\n') == " seven"
    # a Responses prompt template is not a completions prompt
    assert estimate_usage({"prompt": {"id": "pmpt_1"}, "input": "hi"}, "").prompt_tokens > 0
