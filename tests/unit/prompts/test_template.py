"""Rendering a prompt template into each dialect's request (pure functions)."""

from __future__ import annotations

import msgspec
import pytest

from app.prompts.template import PromptTemplate, RenderError, chat_body, messages_body, render, responses_body, slots

T = msgspec.convert(
    {
        "model": "route/support",
        "messages": [
            {"role": "system", "content": "You help with {{product}}."},
            {"role": "user", "content": "{{ customer }} says {{customer}}"},
        ],
        "params": {"temperature": 0.3, "max_tokens": 100, "stop": "END"},
        "variables": {"product": "Polyroute"},
    },
    PromptTemplate,
)


def test_slots_are_listed_once_in_order_of_use() -> None:
    assert slots(T) == ["product", "customer"]


def test_values_fill_every_slot_and_are_never_read_again() -> None:
    done = render(T, {"customer": "{{product}}", "product": 7})
    assert done == [
        {"role": "system", "content": "You help with 7."},
        {"role": "user", "content": "{{product}} says {{product}}"},
    ]


@pytest.mark.parametrize(
    ("variables", "param"),
    [
        ({}, "variables.customer"),
        (None, "variables.customer"),
        ("x", "variables"),
        ({"customer": [1]}, "variables.customer"),
        ({"customer": True}, "variables.customer"),
    ],
)
def test_a_missing_or_wrong_variable_names_itself(variables: object, param: str) -> None:
    with pytest.raises(RenderError) as caught:
        render(T, variables)
    assert caught.value.param == param


def test_chat_puts_the_template_first_and_lets_the_caller_override_params() -> None:
    body = chat_body(
        T,
        {
            "model": "prompt/x",
            "variables": {"customer": "Ann"},
            "messages": [{"role": "user", "content": "hi"}],
            "max_tokens": 5,
        },
    )
    assert body["model"] == "route/support" and "variables" not in body
    assert [m["content"] for m in body["messages"]] == ["You help with Polyroute.", "Ann says Ann", "hi"]
    assert (body["temperature"], body["max_tokens"], body["stop"]) == (0.3, 5, "END")


def test_messages_moves_system_text_and_maps_params() -> None:
    body = messages_body(
        T,
        {
            "variables": {"customer": "Ann"},
            "system": [{"type": "text", "text": "Be nice."}],
            "messages": [{"role": "assistant", "content": "ok"}],
            "max_tokens": 9,
        },
    )
    assert body["system"] == [
        {"type": "text", "text": "You help with Polyroute."},
        {"type": "text", "text": "Be nice."},
    ]
    assert body["messages"] == [{"role": "user", "content": "Ann says Ann"}, {"role": "assistant", "content": "ok"}]
    assert (body["max_tokens"], body["temperature"], body["stop_sequences"]) == (9, 0.3, ["END"])


def test_responses_takes_instructions_and_input() -> None:
    body = responses_body(T, {"input": [{"role": "user", "content": "hi"}], "prompt": {"id": "x"}}, {"customer": "Bo"})
    assert body["instructions"] == "You help with Polyroute." and "prompt" not in body
    assert body["input"] == [{"role": "user", "content": "Bo says Bo"}, {"role": "user", "content": "hi"}]
    assert body["max_output_tokens"] == 100


def test_unknown_params_are_refused_when_the_template_is_made() -> None:
    with pytest.raises(msgspec.ValidationError, match="temprature"):
        msgspec.convert(
            {"model": "m", "messages": [{"role": "user", "content": "x"}], "params": {"temprature": 1}}, PromptTemplate
        )
