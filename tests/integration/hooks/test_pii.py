"""The `pii` hook through the real server: what the upstream sees, what the caller is told, and the
routes that are refused when saved because a hook cannot be built."""

from __future__ import annotations

import json

import anthropic
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.cache.helpers import logged, post, prompt, stream_raw

pytestmark = pytest.mark.usefixtures("fakes_reset")

SECRET = "mail jane.doe@example.com or call +44 20 7946 0958, card 4111 1111 1111 1111, again jane.doe@example.com"
MASKED = "mail [EMAIL_1] or call [PHONE_1], card [CREDIT_CARD_1], again [EMAIL_1]"


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_personal_data_is_masked_before_the_openai_upstream_sees_it(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    tag = prompt("pii")
    raw = hooked.openai().chat.completions.with_raw_response.create(model="route/pii", messages=user(f"{tag} {SECRET}"))
    assert raw.parse().choices[0].message.content == f"Hello from gpt-fake. You said: {tag} {MASKED}"
    assert raw.headers["x-polyroute-pii"] == "EMAIL=1,CREDIT_CARD=1,PHONE=1"
    sent = fake_openai.requests_for("/chat/completions")[-1]
    assert sent.json()["messages"] == user(f"{tag} {MASKED}")
    for value in ("jane.doe", "7946", "4111"):
        assert value not in sent.body.decode()
    hooks = logged(hooked, raw.headers["x-request-id"])["hooks"]
    assert hooks["rewritten_by"] == ["pii"] and hooks["headers"]["x-polyroute-pii"] == "EMAIL=1,CREDIT_CARD=1,PHONE=1"


def test_a_stream_is_masked_and_carries_the_counts_header(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    resp, raw = stream_raw(hooked, "/v1/chat/completions", {"model": "route/pii", "messages": user(SECRET)})
    assert resp.status_code == 200 and resp.headers["x-polyroute-pii"] == "EMAIL=1,CREDIT_CARD=1,PHONE=1"
    text = "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in raw.decode().splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )
    assert text.endswith(MASKED) and "jane" not in raw.decode()
    assert "4111" not in fake_openai.requests_for("/chat/completions")[-1].body.decode()


def test_the_anthropic_sdk_on_an_anthropic_upstream_is_masked_too(
    hooked: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    raw = hooked.anthropic().messages.with_raw_response.create(
        model="route/pii-claude", max_tokens=60, messages=user(SECRET)
    )
    assert MASKED in raw.parse().content[0].text  # type: ignore[union-attr]
    assert raw.headers["x-polyroute-pii"] == "EMAIL=1,CREDIT_CARD=1,PHONE=1"
    received = fake_anthropic.requests_for("/messages")[-1].body.decode()
    assert "jane.doe" not in received and "[EMAIL_1]" in received


def _streamed_text(raw: bytes) -> str:
    return "".join(
        json.loads(line[6:])["choices"][0]["delta"].get("content") or ""
        for line in raw.decode().splitlines()
        if line.startswith("data: {") and json.loads(line[6:])["choices"]
    )


def test_restore_gives_the_caller_the_values_the_upstream_never_saw(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    """`restore: true`: the upstream answers with placeholders (this fake repeats the prompt), the caller
    reads the values; whole, and streamed in many small pieces that split placeholders."""
    tag = prompt("restore")
    raw = hooked.openai().chat.completions.with_raw_response.create(
        model="route/pii-restore", messages=user(f"{tag} {SECRET}")
    )
    assert raw.parse().choices[0].message.content == f"Hello from gpt-fake. You said: {tag} {SECRET}"
    assert "jane.doe" not in fake_openai.requests_for("/chat/completions")[-1].body.decode()
    for chunks in (3, 40):
        fake_openai.script("gpt-fake", {"chunks": chunks})
        resp, streamed = stream_raw(
            hooked, "/v1/chat/completions", {"model": "route/pii-restore", "messages": user(f"{tag} {SECRET}")}
        )
        assert resp.status_code == 200 and _streamed_text(streamed).endswith(f"{tag} {SECRET}")
        assert b"[EMAIL" not in streamed and b"_1]" not in streamed
    sent = fake_openai.requests_for("/chat/completions")[-1].json()
    assert sent["messages"] == user(f"{tag} {MASKED}")


def test_restore_on_an_anthropic_upstream_streamed_to_the_anthropic_sdk(
    hooked: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    with hooked.anthropic().messages.stream(
        model="route/pii-restore-claude", max_tokens=80, messages=user(SECRET)
    ) as stream:
        text = "".join(stream.text_stream)
    assert SECRET in text and "[EMAIL_1]" not in text
    assert "jane.doe" not in fake_anthropic.requests_for("/messages")[-1].body.decode()


def test_a_request_without_personal_data_is_passed_through_unchanged(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    text = prompt("nothing personal, order 12345678 at 12:30")
    raw = hooked.openai().chat.completions.with_raw_response.create(model="route/pii", messages=user(text))
    assert "x-polyroute-pii" not in raw.headers
    assert fake_openai.requests_for("/chat/completions")[-1].json()["messages"] == user(text)


def test_block_refuses_in_each_dialect_without_calling_the_upstream(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    before = len(fake_openai.requests_for("/chat/completions"))
    with pytest.raises(openai.BadRequestError) as err:
        hooked.openai().chat.completions.create(model="route/pii-block", messages=user(SECRET))
    assert err.value.code == "CONTENT_BLOCKED"
    assert "personal data (EMAIL, CREDIT_CARD, PHONE)" in err.value.message and "jane" not in err.value.message
    with pytest.raises(anthropic.BadRequestError) as aerr:
        hooked.anthropic().messages.create(model="route/pii-block", max_tokens=20, messages=user(SECRET))
    assert aerr.value.error_code == "CONTENT_BLOCKED"
    assert len(fake_openai.requests_for("/chat/completions")) == before


def test_block_with_responses_refuses_an_answer_that_carries_personal_data(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("gpt-fake", {"text": "reach her at jane@example.org"})
    resp = post(hooked, "/v1/chat/completions", {"model": "route/pii-block", "messages": user(prompt("who?"))})
    assert resp.status_code == 400 and resp.json()["code"] == "CONTENT_BLOCKED"
    assert "answer contains personal data (EMAIL)" in resp.json()["detail"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"hooks": ["no-such-hook"]}, "params.hooks[0]"),
        ({"hooks": ["pii"], "hook_options": {"pii": {"action": "shred"}}}, "params.hook_options.pii"),
        ({"hooks": ["pii"], "hook_options": {"pii": {"entities": ["PASSPORT"]}}}, "params.hook_options.pii"),
        ({"hooks": ["max-prompt"]}, "params.hook_options.max-prompt"),
    ],
)
def test_a_route_whose_hook_cannot_be_built_is_refused_when_saved(
    hooked: GatewayProcess, params: dict[str, object], field: str
) -> None:
    body = {"name": "route/bad-hook", "targets": [{"provider": "fakeai", "model": "gpt-fake"}], "params": params}
    resp = hooked.admin().post("/v1/routes", json=body)
    assert resp.status_code == 422, resp.text
    assert [e["field"] for e in resp.json()["errors"]] == [field]
    assert hooked.admin().get("/v1/routes/route%2Fbad-hook").status_code == 404
    good = {**body, "name": f"route/good-hook-{len(field)}-{len(json.dumps(params))}", "params": {"hooks": ["pii"]}}
    created = hooked.admin().post("/v1/routes", json=good)
    assert created.status_code == 201, created.text
    patch = hooked.admin().patch(f"/v1/routes/{created.json()['id']}", json={"params": params})
    assert patch.status_code == 422 and [e["field"] for e in patch.json()["errors"]] == [field]
    assert hooked.admin().get(f"/v1/routes/{created.json()['id']}").json()["params"] == {"hooks": ["pii"]}


def test_a_credential_pasted_into_a_prompt_never_reaches_the_upstream(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    pasted = "sk-proj-" + "Q7" * 20
    raw = hooked.openai().chat.completions.with_raw_response.create(
        model="route/pii", messages=user(f"why does {pasted} fail?")
    )
    assert raw.parse().choices[0].message.content.endswith("why does [SECRET_1] fail?")  # type: ignore[union-attr]
    assert raw.headers["x-polyroute-pii"] == "SECRET=1"
    assert pasted not in fake_openai.requests_for("/chat/completions")[-1].body.decode()
