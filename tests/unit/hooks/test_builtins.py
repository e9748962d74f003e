"""The built-in hooks: the deny-list and the prompt-size guard, on the Chat Completions form."""

from __future__ import annotations

from typing import Any

import pytest

import hooks
from hooks.base import HookContext, HookResponse, HookVerdict, chat_text


def ctx(messages: list[dict[str, Any]]) -> HookContext:
    return HookContext(
        endpoint="chat.completions",
        dialect="openai",
        model="m",
        route=None,
        key_id="k",
        user_id=None,
        key_metadata={},
        stream=False,
        request_id="req_1",
        request={"model": "m", "messages": messages},
        count_tokens=lambda text: len(text.split()),  # the gateway injects o200k_base; words do here
    )


def user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_deny_list_refuses_a_pattern_or_a_keyword_anywhere_in_the_request() -> None:
    hook = hooks.build("deny-list", {"patterns": [r"\bproject\s+x\b"], "keywords": ["Bananas"]})
    assert hook.before(ctx([user("hello there")])) == HookVerdict.allow()
    verdict = hook.before(ctx([{"role": "system", "content": "talk about project  x"}, user("ok")]))
    assert isinstance(verdict, HookVerdict) and verdict.action == "reject"
    assert (verdict.status, verdict.code) == (400, "CONTENT_BLOCKED")
    parts = [{"type": "text", "text": "I like BANANAS."}, {"type": "image_url", "image_url": {"url": "x"}}]
    assert hook.before(ctx([{"role": "user", "content": parts}])).action == "reject"  # type: ignore[union-attr]
    assert hook.before(ctx([user("bananasplit")])).action == "allow", "keywords match whole words"  # type: ignore[union-attr]


def test_deny_list_checks_answers_only_when_asked() -> None:
    quiet = hooks.build("deny-list", {"keywords": ["secret"]})
    loud = hooks.build("deny-list", {"keywords": ["secret"], "responses": True})
    answer = HookResponse("the secret is 42", stream=False)
    assert quiet.after(ctx([user("hi")]), answer).action == "allow"  # type: ignore[union-attr]
    assert loud.after(ctx([user("hi")]), answer).action == "reject"  # type: ignore[union-attr]
    assert loud.on_chunk(ctx([user("hi")]), "a secret").action == "reject"  # type: ignore[attr-defined]


def test_deny_list_without_patterns_allows_everything() -> None:
    assert hooks.build("deny-list", {}).before(ctx([user("anything")])).action == "allow"  # type: ignore[union-attr]


def test_max_prompt_counts_tokens_of_every_message() -> None:
    hook = hooks.build("max-prompt", {"max_tokens": 50})
    assert hook.before(ctx([user("short")])).action == "allow"  # type: ignore[union-attr]
    long = " ".join(f"word{i}" for i in range(100))
    verdict = hook.before(ctx([user(long)]))
    assert isinstance(verdict, HookVerdict) and verdict.action == "reject"
    assert (verdict.status, verdict.code) == (400, "CONTEXT_LENGTH_EXCEEDED")
    assert "at most 50" in verdict.message
    # a long text of few tokens passes: the tokenizer decides, the length only short-cuts
    assert hook.before(ctx([user("a" * 60)])).action == "allow"  # type: ignore[union-attr]


@pytest.mark.parametrize("options", [{}, {"max_tokens": 0}, {"max_tokens": "10"}, {"max_tokens": True}])
def test_max_prompt_needs_a_positive_integer(options: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="max_tokens"):
        hooks.build("max-prompt", options)


def test_chat_text_takes_text_parts_and_tool_arguments() -> None:
    request = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": [{"type": "text", "text": "part"}]},
        ]
    }
    assert chat_text(request) == ("sys\n{}\npart", 3)


@pytest.mark.parametrize(
    ("options", "says"),
    [
        ({}, r"url must be an http\(s\) URL"),
        ({"url": "ftp://x/check"}, r"url must be an http\(s\) URL"),
        ({"url": "http://x/check", "timeout_s": 0}, "timeout_s"),
        ({"url": "http://x/check", "on_error": "shrug"}, "on_error"),
        ({"url": "http://x/check", "secret": "s"}, "unknown option 'secret'"),
    ],
)
def test_webhook_options_are_checked_when_the_route_is_saved(options: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=says):
        hooks.build("webhook", options)


def test_webhook_verdicts_keep_statuses_codes_and_headers_in_bounds() -> None:
    from hooks.webhook import _verdict

    blocked = _verdict({"verdict": "block", "status": 200, "code": "lower-case"}, "request")
    assert (blocked.action, blocked.status, blocked.code) == ("reject", 400, "CONTENT_BLOCKED")
    annotated = _verdict({"headers": {"x-a": 1, "set-cookie": "no"}}, "request")
    assert (annotated.action, dict(annotated.headers)) == ("annotate", {"x-a": "1"})
    request = {"messages": [{"role": "user", "content": "hi"}]}
    assert _verdict({"request": request}, "request").action == "rewrite"
    assert _verdict({"request": request}, "response").action == "allow"  # an answer cannot be rewritten
    assert _verdict({"request": {"messages": "oops"}}, "request").action == "allow"
