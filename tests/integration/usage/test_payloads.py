"""The payload log through the real server (`POLYROUTE_PAYLOAD_LOG=all`), on SQLite and Postgres: what the
request log keeps of each request's body and answer, whole or streamed, in both SDKs' dialects, masked
where a hook masked it, cut at the limit, left out when the caller asks."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from html import unescape
from typing import Any

import anthropic
import openai
import pytest

from tests.conftest import dialect_providers
from tests.db_backends import BACKENDS, gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.ui.conftest import ui_client
from tests.integration.usage.harness import KEYS, usage_config

pytestmark = pytest.mark.usefixtures("fakes_reset")

LIMIT = 4096
MESSAGES = [{"role": "user", "content": "what did I ask?"}]


@pytest.fixture(scope="module", params=BACKENDS)
def gw(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> Iterator[GatewayProcess]:
    config = usage_config(fake_openai)
    config["providers"] += dialect_providers(fake_anthropic, None)
    config.setdefault("routes", []).append(
        {"name": "route/masked", "targets": [{"provider": "fakeai", "model": "gpt-fake"}], "params": {"hooks": ["pii"]}}
    )
    env = {"POLYROUTE_PAYLOAD_LOG": "all", "POLYROUTE_PAYLOAD_LOG_MAX_BYTES": str(LIMIT)}
    tmp = tmp_path_factory.mktemp(f"payloads-{request.param}")
    with gateway_on(str(request.param), tmp, config, env=env) as gateway:
        yield gateway


def _client(gw: GatewayProcess) -> openai.OpenAI:
    return openai.OpenAI(api_key=KEYS["open"], base_url=gw.v1, max_retries=0)


def _kept(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    payload: dict[str, Any] = gw.logged(request_id)["payload"]
    return payload


def test_a_whole_answer_keeps_the_request_and_the_answer(gw: GatewayProcess) -> None:
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake",
        messages=MESSAGES,
        temperature=0.5,  # type: ignore[arg-type]
    )
    answer = raw.parse()
    kept = _kept(gw, raw.headers["x-request-id"])
    request = json.loads(kept["request"])
    assert (request["messages"], request["temperature"], request["model"]) == (MESSAGES, 0.5, "fakeai/gpt-fake")
    response = json.loads(kept["response"])
    assert response["id"] == answer.id
    assert response["choices"][0]["message"]["content"] == answer.choices[0].message.content
    assert kept["truncated"] is False


def test_a_stream_keeps_its_text(gw: GatewayProcess) -> None:
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake",
        messages=MESSAGES,
        stream=True,  # type: ignore[arg-type]
    )
    text = "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    assert text
    kept = _kept(gw, raw.headers["x-request-id"])
    assert kept["response"] == text
    assert json.loads(kept["request"])["stream"] is True


def test_anthropic_messages_keep_their_own_dialect(gw: GatewayProcess) -> None:
    claude = anthropic.Anthropic(api_key=KEYS["open"], base_url=gw.base_url, max_retries=0)
    raw = claude.messages.with_raw_response.create(model="claude/claude-fake", max_tokens=40, messages=MESSAGES)  # type: ignore[arg-type]
    message = raw.parse()
    kept = _kept(gw, raw.headers["x-request-id"])
    assert json.loads(kept["request"])["max_tokens"] == 40
    assert json.loads(kept["response"])["content"][0]["text"] == message.content[0].text  # type: ignore[union-attr]


def test_what_a_hook_masked_stays_masked(gw: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    said = [{"role": "user", "content": "write to jane.doe@example.com"}]
    raw = _client(gw).chat.completions.with_raw_response.create(model="route/masked", messages=said)  # type: ignore[arg-type]
    kept = _kept(gw, raw.headers["x-request-id"])
    assert "jane.doe" not in kept["request"] + kept["response"]
    assert json.loads(kept["request"])["messages"][0]["content"] == "write to [EMAIL_1]"
    assert "[EMAIL_1]" in kept["response"]  # the upstream's answer, as it came


def test_long_bodies_are_cut_at_the_limit_and_credentials_masked(gw: GatewayProcess) -> None:
    long = [{"role": "user", "content": "use api_key=sk-poly-not-for-logs-123456 " + "word " * 3000}]
    raw = _client(gw).chat.completions.with_raw_response.create(model="fakeai/gpt-fake", messages=long)  # type: ignore[arg-type]
    kept = _kept(gw, raw.headers["x-request-id"])
    assert kept["truncated"] is True
    assert len(kept["request"].encode()) <= LIMIT and kept["request"].startswith('{"')
    assert "sk-poly-not-for-logs-123456" not in kept["request"]


def test_a_caller_keeps_a_request_out_and_failures_keep_the_request(gw: GatewayProcess) -> None:
    raw = _client(gw).chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake",
        messages=MESSAGES,  # type: ignore[arg-type]
        extra_headers={"x-polyroute-log-payload": "off"},
    )
    assert gw.logged(raw.headers["x-request-id"])["payload"] is None
    with pytest.raises(openai.BadRequestError) as refused:
        _client(gw).chat.completions.create(model="fakeai/fake-400", messages=MESSAGES)  # type: ignore[arg-type]
    request_id = refused.value.response.headers["x-request-id"]
    kept = _kept(gw, request_id)
    assert json.loads(kept["request"])["model"] == "fakeai/fake-400" and kept["response"] == ""


def test_the_request_page_lays_the_bodies_out(gw: GatewayProcess) -> None:
    raw = _client(gw).chat.completions.with_raw_response.create(model="fakeai/gpt-fake", messages=MESSAGES)  # type: ignore[arg-type]
    request_id = raw.headers["x-request-id"]
    _kept(gw, request_id)
    client = ui_client(gw)
    assert client.login(admin_key=gw.admin_key).status_code == 303
    html = client.get(f"/ui/requests/{request_id}").text
    client.close()
    request = re.search(r'<pre id="payload-request">(.*?)</pre>', html, re.S)
    answer = re.search(r'<pre id="payload-response">(.*?)</pre>', html, re.S)
    assert request and answer
    assert json.loads(unescape(request.group(1)))["messages"] == MESSAGES
    assert '\n  "model": "fakeai/gpt-fake"' in unescape(request.group(1))  # indented for reading
    assert (
        json.loads(unescape(answer.group(1)))["choices"][0]["message"]["content"]
        == raw.parse().choices[0].message.content
    )
