"""The `webhook` hook through the real server: an HTTP guardrail service allows, blocks, rewrites and
annotates requests and answers from both SDKs; a failing service blocks (or allows, if told to)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers
from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.guardrail import FakeGuardrail
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")


@pytest.fixture(scope="module")
def guardrail() -> Iterator[FakeGuardrail]:
    with FakeGuardrail() as server:
        yield server


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory,
    guardrail: FakeGuardrail,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> Iterator[GatewayProcess]:
    def route(name: str, provider: str, model: str, **options: Any) -> dict[str, Any]:
        hook = {"url": guardrail.base_url + "/check", "api_key_env": "GUARDRAIL_TOKEN", "timeout_s": 1, **options}
        params = {"hooks": ["webhook"], "hook_options": {"webhook": hook}, "retries": 0}
        return {"name": name, "targets": [{"provider": provider, "model": model}], "params": params}

    config = {
        "providers": [
            {
                "name": "fakeai",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "models": [{"id": "gpt-fake"}],
            },
            *dialect_providers(fake_anthropic, None),
        ],
        "routes": [
            route("route/checked", "fakeai", "gpt-fake", responses=True),
            route("route/checked-claude", "claude", "claude-fake"),
            route("route/lenient", "fakeai", "gpt-fake", on_error="allow"),
        ],
        "api_keys": [{"name": "test", "key": API_KEY}],
    }
    env = {"GUARDRAIL_TOKEN": guardrail.token}
    with gateway_on("sqlite", tmp_path_factory.mktemp("webhook-hook"), config, env=env) as gateway:
        yield gateway


def _ask(gw: GatewayProcess, route: str, text: str, **kwargs: Any) -> Any:
    messages = [{"role": "user", "content": text}]
    return gw.openai().chat.completions.with_raw_response.create(model=route, messages=messages, **kwargs)  # type: ignore[arg-type]


def test_an_allowed_request_goes_through_with_the_services_headers(
    gw: GatewayProcess, guardrail: FakeGuardrail
) -> None:
    raw = _ask(gw, "route/checked", "a plain question")
    assert raw.headers["x-guardrail"] == "checked" and raw.headers.get("server") != "nope"
    stages = [json.loads(r.body) for r in guardrail.requests_for("/check")][-2:]
    assert [s["stage"] for s in stages] == ["request", "response"]
    assert stages[0]["request"]["messages"] == [{"role": "user", "content": "a plain question"}]
    assert stages[0]["model"] == "route/checked" and stages[0]["key_id"]
    assert "You said: a plain question" in stages[1]["response"]["text"]
    assert guardrail.requests_for("/check")[-1].headers["Authorization"] == f"Bearer {guardrail.token}"


def test_a_blocked_request_never_reaches_the_upstream(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(gw, "route/checked", "something forbidden")
    assert refused.value.body["code"] == "CONTENT_BLOCKED"  # type: ignore[index]
    assert "no forbidden words in the request (webhook)" in refused.value.message
    with pytest.raises(openai.PermissionDeniedError) as denied:
        _ask(gw, "route/checked", "forbidden as-403")
    assert denied.value.response.headers["x-error-code"] == "POLICY_DENIED"
    assert not fake_openai.requests_for("/chat/completions")


def test_the_service_can_rewrite_the_request_in_any_dialect(
    gw: GatewayProcess, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    raw = _ask(gw, "route/lenient", "please rewrite-me now")  # answers unchecked: the request's header stays
    assert raw.headers["x-guardrail"] == "rewrote"
    assert fake_openai.requests_for("/chat/completions")[-1].json()["messages"][0]["content"] == "please rewritten now"
    claude = anthropic.Anthropic(api_key=API_KEY, base_url=gw.base_url, max_retries=0)
    claude.messages.create(
        model="route/checked-claude", max_tokens=20, messages=[{"role": "user", "content": "rewrite-me"}]
    )
    assert fake_anthropic.requests_for("/messages")[-1].json()["messages"][0]["content"] in (
        "rewritten",
        [{"type": "text", "text": "rewritten"}],
    )


def test_answers_are_checked_when_asked_and_a_stream_ends_with_an_error_event(
    gw: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    # The fake upstream echoes the request: its answer to "answer-check" says it, which the service refuses.
    with pytest.raises(openai.BadRequestError) as refused:
        _ask(gw, "route/checked", "answer-check")
    assert "the answer repeats what it must not (webhook)" in refused.value.message
    assert fake_openai.requests_for("/chat/completions"), "the request itself was allowed"
    stream = gw.openai().chat.completions.create(
        model="route/checked", messages=[{"role": "user", "content": "answer-check"}], stream=True
    )
    with pytest.raises(openai.APIError) as cut:
        "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert "the answer repeats what it must not" in str(cut.value)
    assert _ask(gw, "route/lenient", "answer-check").parse().choices[0].message.content  # answers not checked


@pytest.mark.parametrize("trouble", ["slow", "broken", "garbage"])
def test_a_service_that_cannot_decide_blocks_unless_told_to_allow(gw: GatewayProcess, trouble: str) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        _ask(gw, "route/checked", f"a {trouble} check")
    assert refused.value.status_code == 503
    assert refused.value.response.headers["x-error-code"] == "GUARDRAIL_UNAVAILABLE"
    assert _ask(gw, "route/lenient", f"a {trouble} check").parse().choices[0].message.content
