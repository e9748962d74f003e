"""The `moderation` hook through the real server, against the fake OpenAI's /v1/moderations (which flags
text mentioning "attack" for violence at 0.9): refusals, narrower categories and thresholds, answers,
and what happens when the moderation endpoint cannot be reached."""

from __future__ import annotations

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.hooks.conftest import MODERATION_KEY

pytestmark = pytest.mark.usefixtures("fakes_reset")


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_a_flagged_request_is_refused_before_the_upstream_is_called(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    with pytest.raises(openai.BadRequestError) as refused:
        hooked.openai().chat.completions.create(model="route/moderated", messages=user("plan an attack"))
    assert "flagged by moderation: violence" in refused.value.message
    assert refused.value.response.headers["x-error-code"] == "CONTENT_BLOCKED"
    assert not fake_openai.requests_for("/chat/completions")
    [asked] = fake_openai.requests_for("/moderations")
    assert asked.headers["Authorization"] == f"Bearer {MODERATION_KEY}"
    assert asked.json() == {"model": "omni-moderation-latest", "input": ["plan an attack"]}


def test_a_benign_request_goes_through(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    answer = hooked.openai().chat.completions.create(model="route/moderated", messages=user("plan a picnic"))
    assert "plan a picnic" in (answer.choices[0].message.content or "")
    assert len(fake_openai.requests_for("/moderations")) == 1


@pytest.mark.parametrize("route", ["route/moderated-hate-only", "route/moderated-threshold"])
def test_categories_and_thresholds_narrow_what_is_refused(hooked: GatewayProcess, route: str) -> None:
    answer = hooked.openai().chat.completions.create(model=route, messages=user("plan an attack"))
    assert answer.choices[0].message.content


def test_responses_checks_the_answer_too(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    fake_openai.script("gpt-fake", {"text": "we attack at dawn"}, {"text": "we attack at dawn"})
    with pytest.raises(openai.BadRequestError) as whole:
        hooked.openai().chat.completions.create(model="route/moderated-answers", messages=user("what now?"))
    assert "The answer was flagged by moderation: violence" in whole.value.message
    stream = hooked.openai().chat.completions.create(
        model="route/moderated-answers", messages=user("what now?"), stream=True
    )
    with pytest.raises(openai.APIError) as streamed:
        for _ in stream:
            pass
    assert "flagged by moderation" in str(streamed.value)


def test_an_unreachable_moderation_endpoint_refuses_unless_told_to_allow(hooked: GatewayProcess) -> None:
    with pytest.raises(openai.APIStatusError) as refused:
        hooked.openai().chat.completions.create(model="route/moderated-down", messages=user("hello"))
    assert refused.value.status_code == 503
    assert refused.value.response.headers["x-error-code"] == "GUARDRAIL_UNAVAILABLE"
    allowed = hooked.openai().chat.completions.create(model="route/moderated-down-allow", messages=user("hello"))
    assert allowed.choices[0].message.content


def test_bad_options_are_refused_when_the_route_is_saved(hooked: GatewayProcess) -> None:
    with hooked.admin() as admin:
        for options, says in (
            ({"on_error": "maybe"}, "on_error"),
            ({"thresholds": {"violence": 2}}, "thresholds"),
            ({"categorys": ["hate"]}, "unknown option 'categorys'"),
            ({"base_url": "ftp://x"}, "base_url"),
        ):
            body = {
                "name": "route/mod-bad",
                "targets": [{"provider": "fakeai", "model": "gpt-fake"}],
                "params": {"hooks": ["moderation"], "hook_options": {"moderation": options}},
            }
            refused = admin.post("/v1/routes", json=body)
            assert refused.status_code == 422, refused.text
            assert refused.json()["errors"][0]["field"] == "params.hook_options.moderation"
            assert says in refused.json()["errors"][0]["message"]
