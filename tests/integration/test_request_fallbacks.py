"""Fallback models named in the request body (OpenRouter's `models`, LiteLLM's `fallbacks`), through the
real server from the OpenAI and Anthropic SDKs: tried in order after `model`, never sent upstream,
checked against the plan, refused when malformed."""

from __future__ import annotations

from typing import Any

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

MESSAGES = [{"role": "user", "content": "who answers?"}]
FREE_KEY = "sk-poly-free-0123456789abcdefghij"


def _bodies(fake: FakeOpenAI | FakeAnthropic, suffix: str) -> list[dict[str, Any]]:
    return [r.json() for r in fake.requests_for(suffix)]


@pytest.mark.parametrize("field", ["models", "fallbacks"])
def test_a_failing_model_falls_back_to_the_named_ones_in_order(
    gateway: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, field: str
) -> None:
    raw = gateway.openai().chat.completions.with_raw_response.create(
        model="fakeai/fake-500",
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_body={field: ["backup/gpt-fake", "fakeai/gpt-fake"]},
    )
    assert raw.headers["x-polyroute-model"] == "backup/gpt-fake"
    assert "gpt-fake" in (raw.parse().choices[0].message.content or "")
    sent = _bodies(fake_openai, "/chat/completions") + _bodies(fake_backup, "/chat/completions")
    models = [b["model"] for b in sent]  # the route's retries of the first, then the first fallback
    assert models[-1] == "gpt-fake" and set(models[:-1]) == {"fake-500"}  # the third was not needed
    assert all(field not in b for b in sent)  # ours, not the upstream's
    record = gateway.logged(raw.headers["x-request-id"])
    assert [(a["provider"], a["model"]) for a in record["attempts"]][-1] == ("backup", "gpt-fake")
    assert record["requested_model"] == "fakeai/fake-500"


def test_a_model_that_answers_leaves_the_fallbacks_untried(
    gateway: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    stream = gateway.openai().chat.completions.create(
        model="fakeai/gpt-fake",
        messages=MESSAGES,  # type: ignore[arg-type]
        stream=True,
        extra_body={"models": ["backup/gpt-fake"]},
    )
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert not fake_backup.requests_for("/chat/completions")
    assert "models" not in _bodies(fake_openai, "/chat/completions")[-1]


def test_an_anthropic_caller_falls_back_to_an_openai_model(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic, fake_openai: FakeOpenAI
) -> None:
    message = gateway.anthropic().messages.create(
        model="claude/fake-500",
        max_tokens=30,
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_body={"fallbacks": [{"model": "fakeai/gpt-fake"}]},
    )
    assert message.content[0].text  # type: ignore[union-attr]
    assert {b["model"] for b in _bodies(fake_anthropic, "/messages")} == {"fake-500"}
    translated = _bodies(fake_openai, "/chat/completions")[-1]
    assert translated["model"] == "gpt-fake" and "fallbacks" not in translated


@pytest.mark.parametrize(
    ("extra", "status", "code", "param"),
    [
        ({"models": "backup/gpt-fake"}, 400, "invalid_request_error", "models"),
        ({"fallbacks": ["backup/gpt-fake", 7]}, 400, "invalid_request_error", "fallbacks[1]"),
        ({"models": [f"m{i}" for i in range(9)]}, 400, "invalid_request_error", "models"),
        ({"models": ["nope/nothing"]}, 400, "invalid_request_error", "model"),
    ],
)
def test_malformed_or_unknown_fallbacks_are_refused_before_any_call(
    gateway: GatewayProcess, fake_openai: FakeOpenAI, extra: dict[str, Any], status: int, code: str, param: str
) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.openai().chat.completions.create(model="fakeai/gpt-fake", messages=MESSAGES, extra_body=extra)  # type: ignore[arg-type]
    error = refused.value.body
    assert refused.value.status_code == status
    assert isinstance(error, dict) and (error["type"], error["param"]) == (code, param)
    assert not fake_openai.requests_for("/chat/completions")


def test_a_fallback_outside_the_plan_is_refused(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    with pytest.raises(openai.PermissionDeniedError) as refused:
        gateway.openai(FREE_KEY).chat.completions.create(
            model="fakeai/gpt-fake",
            messages=MESSAGES,  # type: ignore[arg-type]
            extra_body={"models": ["backup/gpt-fake"]},
        )
    assert "backup/gpt-fake" in str(refused.value)
    assert not fake_openai.requests_for("/chat/completions")
