"""The `pii` hook: what it detects (and what it leaves alone), how it masks, blocks and checks answers."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest

import hooks
from hooks.base import HookResponse, HookVerdict
from hooks.pii import find_pii
from tests.unit.hooks.test_builtins import ctx, user


@pytest.mark.parametrize(
    ("text", "entity", "value"),
    [
        ("write to bob.smith@example.co.uk today", "EMAIL", "bob.smith@example.co.uk"),
        ("card 4111 1111 1111 1111 expires", "CREDIT_CARD", "4111 1111 1111 1111"),
        ("amex 3782-822463-10005.", "CREDIT_CARD", "3782-822463-10005"),
        ("pay DE89 3704 0044 0532 0130 00 OK", "IBAN", "DE89 3704 0044 0532 0130 00"),
        ("pay GB82WEST12345698765432 now", "IBAN", "GB82WEST12345698765432"),
        ("ssn 123-45-6789.", "US_SSN", "123-45-6789"),
        ("call +44 20 7946 0958 now", "PHONE", "+44 20 7946 0958"),
        ("call (415) 555-0101", "PHONE", "(415) 555-0101"),
        ("call 415.555.0102", "PHONE", "415.555.0102"),
        ("host 192.168.1.20 is down", "IP_ADDRESS", "192.168.1.20"),
        ("host 2001:db8::1 is down", "IP_ADDRESS", "2001:db8::1"),
        ("use sk-proj-" + "a1" * 16 + " here", "SECRET", "sk-proj-" + "a1" * 16),
        ("anthropic sk-ant-api03-" + "Zz9_" * 6, "SECRET", "sk-ant-api03-" + "Zz9_" * 6),
        ("aws AKIAIOSFODNN7EXAMPLE", "SECRET", "AKIAIOSFODNN7EXAMPLE"),
        ("gh ghp_" + "x" * 36, "SECRET", "ghp_" + "x" * 36),
        ("slack xoxb-1234567890-abcdefghij", "SECRET", "xoxb-1234567890-abcdefghij"),
        ("stripe sk_test_" + "4" * 24, "SECRET", "sk_test_" + "4" * 24),
        ("jwt eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl", "SECRET", "eyJhbGciOiJI.eyJzdWIiOiIx.c2lnbmF0dXJl"),
        (
            "-----BEGIN PRIVATE KEY-----\nMIIE\nowner@corp.example\n-----END PRIVATE KEY-----",
            "SECRET",
            "-----BEGIN PRIVATE KEY-----\nMIIE\nowner@corp.example\n-----END PRIVATE KEY-----",
        ),
    ],
)
def test_each_entity_is_found(text: str, entity: str, value: str) -> None:
    assert find_pii(text) == [(entity, value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails its checksum",  # not Luhn-valid
        "order 1234567812345678 or 0000000000000000",  # Luhn-valid only by luck is still a card; these are not
        "iban GB82 WEST 1234 5698 7654 33 has a wrong check",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "at 12:30:45 on 2026-11-23, version 1.2.3.4.5, 999.1.1.1, room 101, 3.14159",
        "user@localhost is not an address; neither is @handle",
        "a risk-assessment-framework-document, sk-short, task-list-of-many-many-words",
    ],
)
def test_ordinary_numbers_and_text_are_left_alone(text: str) -> None:
    assert find_pii(text) == []


def test_a_card_number_is_not_also_read_as_a_phone_number() -> None:
    found = find_pii("pay +4111 1111 1111 1111 or call +1 415 555 0100")
    assert found == [("CREDIT_CARD", "4111 1111 1111 1111"), ("PHONE", "+1 415 555 0100")]


def _request() -> list[dict[str, Any]]:
    return [
        {"role": "system", "content": "You help bob@x.io"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "mail bob@x.io and eve@y.org, card 4111111111111111"},
                {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
            ],
        },
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "send", "arguments": '{"to": "eve@y.org"}'}}
            ],
        },
        {"role": "tool", "tool_call_id": "c1", "content": "sent to eve@y.org"},
    ]


def test_mask_numbers_each_value_once_across_the_whole_request() -> None:
    verdict = hooks.build("pii", {}).before(ctx(_request()))
    assert isinstance(verdict, HookVerdict) and verdict.action == "rewrite" and verdict.request is not None
    messages = verdict.request["messages"]
    assert messages[0]["content"] == "You help [EMAIL_1]"
    assert messages[1]["content"][0]["text"] == "mail [EMAIL_1] and [EMAIL_2], card [CREDIT_CARD_1]"
    assert messages[1]["content"][1] == _request()[1]["content"][1], "non-text parts are kept"
    assert json.loads(messages[2]["tool_calls"][0]["function"]["arguments"]) == {"to": "[EMAIL_2]"}
    assert messages[3] == {"role": "tool", "tool_call_id": "c1", "content": "sent to [EMAIL_2]"}
    assert verdict.headers == {"x-polyroute-pii": "EMAIL=2,CREDIT_CARD=1"}
    assert "@" not in json.dumps(verdict.request)


def test_a_request_without_personal_data_is_allowed_untouched() -> None:
    assert hooks.build("pii", {}).before(ctx([user("what is 2 + 2?")])) == HookVerdict.allow()


def test_options_choose_entities_add_patterns_and_shape_the_placeholder() -> None:
    hook = hooks.build(
        "pii", {"entities": ["email"], "patterns": {"employee_id": r"\bE\d{6}\b"}, "placeholder": "<{entity}>"}
    )
    verdict = hook.before(ctx([user("E123456 wrote from a@b.co about 4111111111111111")]))
    assert verdict.request["messages"][0]["content"] == "<EMPLOYEE_ID> wrote from <EMAIL> about 4111111111111111"  # type: ignore[union-attr]


def test_block_refuses_naming_the_kinds_never_the_values() -> None:
    verdict = hooks.build("pii", {"action": "block"}).before(ctx(_request()))
    assert isinstance(verdict, HookVerdict) and verdict.action == "reject"
    assert (verdict.status, verdict.code) == (400, "CONTENT_BLOCKED")
    assert "EMAIL, CREDIT_CARD" in verdict.message and "@" not in verdict.message


def test_answers_are_checked_only_when_asked() -> None:
    answer = HookResponse("her number is +44 20 7946 0958", stream=False)
    assert hooks.build("pii", {}).after(ctx([user("hi")]), answer) == HookVerdict.allow()
    loud = hooks.build("pii", {"responses": True})
    verdict = loud.after(ctx([user("hi")]), answer)
    assert isinstance(verdict, HookVerdict) and verdict.action == "reject" and "PHONE" in verdict.message
    assert loud.on_chunk(ctx([user("hi")]), "mail a@b.co").action == "reject"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"entities": ["EMAIL", "PASSPORT"]}, "unknown entities"),
        ({"action": "redact"}, "action"),
        ({"patterns": ["x"]}, "patterns"),
        ({"placeholder": "{nope}"}, "nope"),
        ({"patterns": {"X": "("}}, "missing"),
    ],
)
def test_bad_options_fail_when_the_hook_is_built(options: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, KeyError, re.error), match=message):
        hooks.build("pii", options)
