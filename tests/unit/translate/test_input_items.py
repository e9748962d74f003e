"""A stored conversation back into Responses input items: roles, parts, calls, outputs, the answer left out."""

from __future__ import annotations

from app.translate.responses.input_items import input_items

ANSWERED = {"id": "resp_ab", "output": [{"type": "message", "content": [{"type": "output_text", "text": "hi"}]}]}


def test_every_kind_of_message_becomes_its_item() -> None:
    conversation = [
        {"role": "developer", "content": "be terse"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "look"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA", "detail": "low"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "assistant", "content": "hi"},  # the answer: not an input
    ]
    items = input_items(ANSWERED, conversation)
    assert [(i["type"], i.get("role")) for i in items] == [
        ("message", "developer"),
        ("message", "user"),
        ("function_call", None),
        ("function_call_output", None),
    ]
    assert items[1]["content"] == [
        {"type": "input_text", "text": "look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AA", "detail": "low"},
    ]
    assert (items[2]["call_id"], items[2]["name"], items[3]["output"]) == ("c1", "f", "42")
    assert len({i["id"] for i in items}) == 4 and items == input_items(ANSWERED, conversation)  # stable ids


def test_a_response_without_an_answer_keeps_its_last_message() -> None:
    empty = {"id": "resp_x", "output": []}
    assert [i["content"][0]["text"] for i in input_items(empty, [{"role": "user", "content": "q"}])] == ["q"]
    assert input_items(ANSWERED, []) == []
