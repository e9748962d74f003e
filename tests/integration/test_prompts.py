"""Prompt templates through the router: `model: prompt/<name>[@N]` with `variables`, from the OpenAI and
Anthropic SDKs and the Responses API's own `prompt` object; versions, publishing, rendering, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

SUPPORT = {
    "model": "oa/gpt-fake",
    "messages": [
        {"role": "system", "content": "You answer for {{product}}. Be brief."},
        {"role": "user", "content": "I am {{ customer }}."},
    ],
    "params": {"temperature": 0.2, "max_tokens": 40},
    "variables": {"product": "Polyroute"},
    "description": "support answers",
}


def _config(chat: FakeOpenAI, claude: FakeAnthropic) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "oa",
                "kind": "openai",
                "base_url": chat.base_url + "/v1",
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}],
            },
            {
                "name": "ant",
                "kind": "anthropic",
                "base_url": claude.base_url,
                "api_key": "sk-ant-upstream-secret",
                "probe_interval_s": 0,
                "models": [{"id": "claude-fake"}],
            },
        ],
        "plans": [{"name": "gpt-only", "models": ["oa/*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY},
            {"name": "gpt-only", "key": "sk-poly-prompts-gpt-only-0123456789", "plan": "gpt-only"},
        ],
    }


@pytest.fixture(scope="module")
def gw(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("prompts"), _config(fake_openai, fake_anthropic)) as gateway:
        with gateway.admin() as admin:
            assert admin.post("/v1/prompts", json={"name": "support", **SUPPORT}).status_code == 201
            claude = {**SUPPORT, "model": "ant/claude-fake", "params": {"temperature": 0.5, "max_tokens": 64}}
            assert admin.post("/v1/prompts", json={"name": "support-claude", **claude}).status_code == 201
        yield gateway


def _sent(fake: FakeOpenAI | FakeAnthropic, path: str) -> dict[str, Any]:
    found = fake.requests_for(path)
    assert found, f"nothing reached {path}"
    body: dict[str, Any] = found[-1].json()
    return body


def test_chat_renders_the_published_version_before_the_callers_messages(
    gw: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="prompt/support",
        messages=[{"role": "user", "content": "Where is my invoice?"}],
        extra_body={"variables": {"customer": "Ann"}},
        max_tokens=20,
    )
    assert raw.headers["x-polyroute-prompt"] == "support@1"
    assert raw.parse().choices[0].message.content
    sent = _sent(fake_openai, "/chat/completions")
    assert sent["model"] == "gpt-fake" and "variables" not in sent
    assert sent["messages"] == [
        {"role": "system", "content": "You answer for Polyroute. Be brief."},
        {"role": "user", "content": "I am Ann."},
        {"role": "user", "content": "Where is my invoice?"},
    ]
    assert (sent["temperature"], sent["max_tokens"]) == (0.2, 20)  # the caller's own value wins
    logged = gw.logged(raw.headers["x-request-id"])
    assert logged["requested_model"] == "prompt/support@1" and logged["model"] == "gpt-fake"


def test_a_missing_variable_or_an_unknown_prompt_is_a_400_naming_it(gw: GatewayProcess) -> None:
    client = gw.openai()
    with pytest.raises(openai.BadRequestError) as missing:
        client.chat.completions.create(model="prompt/support", messages=[])
    assert missing.value.body["param"] == "variables.customer"  # type: ignore[index]
    assert "needs the variable 'customer'" in missing.value.message
    with pytest.raises(openai.BadRequestError) as unknown:
        client.chat.completions.create(model="prompt/nope", messages=[], extra_body={"variables": {}})
    assert "Unknown prompt 'nope'" in unknown.value.message
    with pytest.raises(openai.BadRequestError) as version:
        client.chat.completions.create(model="prompt/support@99", messages=[], extra_body={"variables": {}})
    assert "no version '99'" in version.value.message
    with pytest.raises(openai.BadRequestError) as typed:
        client.chat.completions.create(
            model="prompt/support", messages=[], extra_body={"variables": {"customer": {"name": "Ann"}}}
        )
    assert typed.value.body["param"] == "variables.customer"  # type: ignore[index]


def test_the_keys_plan_holds_the_prompts_model(gw: GatewayProcess) -> None:
    limited = gw.openai(key="sk-poly-prompts-gpt-only-0123456789")
    assert limited.chat.completions.create(
        model="prompt/support", messages=[], extra_body={"variables": {"customer": "Bo"}}
    ).choices
    with pytest.raises(openai.PermissionDeniedError):
        limited.chat.completions.create(
            model="prompt/support-claude", messages=[], extra_body={"variables": {"customer": "Bo"}}
        )


def test_versions_are_pinned_published_and_rolled_back(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    v2 = {**SUPPORT, "messages": [{"role": "system", "content": "v2 for {{product}}"}], "publish": False}
    with gw.admin() as admin:
        made = admin.put("/v1/prompts/support", json=v2)
        assert made.status_code == 200, made.text
        assert (made.json()["published"], made.json()["latest"], made.json()["versions"]) == (1, 2, [1, 2])
    client = gw.openai()

    def system_of(model: str) -> str:
        client.chat.completions.create(model=model, messages=[], extra_body={"variables": {"customer": "Cy"}})
        return str(_sent(fake_openai, "/chat/completions")["messages"][0]["content"])

    assert system_of("prompt/support") == "You answer for Polyroute. Be brief."
    assert system_of("prompt/support@2") == "v2 for Polyroute"
    with gw.admin() as admin:
        assert admin.post("/v1/prompts/support/publish", json={"version": 2}).json()["published"] == 2
        assert system_of("prompt/support") == "v2 for Polyroute"
        assert admin.post("/v1/prompts/support/publish", json={"version": 1}).status_code == 200
        assert admin.post("/v1/prompts/support/publish", json={"version": 7}).status_code == 404
        assert system_of("prompt/support") == "You answer for Polyroute. Be brief."
        one = admin.get("/v1/prompts/support/versions/2").json()
        assert one["variables"] == ["product"] and one["template"]["messages"][0]["content"] == "v2 for {{product}}"
        rendered = admin.post("/v1/prompts/support/render", json={"variables": {"customer": "Di"}}).json()
        assert rendered["messages"][1] == {"role": "user", "content": "I am Di."} and rendered["model"] == "oa/gpt-fake"
        assert admin.post("/v1/prompts/support/render", json={}).json()["errors"][0]["field"] == "variables.customer"
        events = admin.get("/v1/audit", params={"resource": "prompt"}).json()["data"]
        assert {e["action"] for e in events} >= {"create", "update"}


def test_anthropic_messages_get_the_system_text_and_the_params(
    gw: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    raw = gw.anthropic().messages.with_raw_response.create(
        model="prompt/support-claude",
        max_tokens=30,
        system="Answer in French.",
        messages=[{"role": "user", "content": "Bonjour"}],
        extra_body={"variables": {"customer": "Émile"}},
    )
    assert raw.headers["x-polyroute-prompt"] == "support-claude@1" and raw.parse().content
    sent = _sent(fake_anthropic, "/v1/messages")
    assert sent["model"] == "claude-fake" and sent["max_tokens"] == 30 and sent["temperature"] == 0.5
    assert sent["system"] == "You answer for Polyroute. Be brief.\n\nAnswer in French."
    assert sent["messages"] == [  # one user turn: Anthropic wants roles to alternate
        {"role": "user", "content": [{"type": "text", "text": "I am Émile."}, {"type": "text", "text": "Bonjour"}]}
    ]
    with pytest.raises(anthropic.BadRequestError):
        gw.anthropic().messages.create(model="prompt/support-claude", max_tokens=5, messages=[])


def test_the_responses_apis_prompt_object_names_our_prompt(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    response = gw.openai().responses.create(
        prompt={"id": "support", "variables": {"customer": "Flo"}}, input="And my order?"
    )
    assert response.output_text
    sent = _sent(fake_openai, "/responses")
    assert sent["model"] == "gpt-fake" and sent["instructions"] == "You answer for Polyroute. Be brief."
    assert sent["input"] == [{"role": "user", "content": "I am Flo."}, {"role": "user", "content": "And my order?"}]
    assert "prompt" not in sent


def test_bad_prompt_definitions_are_refused(gw: GatewayProcess) -> None:
    with gw.admin() as admin:
        for body, field in (
            ({**SUPPORT, "name": "x", "model": "nowhere/model"}, "model"),
            ({**SUPPORT, "name": "x", "model": "prompt/support"}, "model"),
            ({**SUPPORT, "name": "x", "params": {"temprature": 1}}, "params"),
            ({**SUPPORT, "name": "x", "messages": []}, "messages"),
            ({**SUPPORT, "name": "x", "messages": [{"role": "tool", "content": "x"}]}, "messages"),
            ({**SUPPORT, "name": "bad name"}, "name"),
        ):
            refused = admin.post("/v1/prompts", json=body)
            assert refused.status_code == 422, (body, refused.text)
            assert refused.json()["errors"][0]["field"].startswith(field), refused.text
        assert admin.post("/v1/prompts", json={"name": "support", **SUPPORT}).status_code == 409
        assert admin.get("/v1/prompts/nope").status_code == 404
        listed = admin.get("/v1/prompts").json()
        assert {p["name"] for p in listed["data"]} >= {"support", "support-claude"}
    with httpx.Client(base_url=gw.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as inference:
        assert inference.get("/v1/prompts").status_code == 403
