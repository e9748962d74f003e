"""Provider kind `bedrock-converse`: every Bedrock model family through the Converse API, translated from and to
the OpenAI and Anthropic dialects, driven by the official SDKs against the fake Bedrock runtime."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on, sqlite_backend  # noqa: F401 (this module's `backend`: SQLite)
from tests.fakes.bedrock import FakeBedrock
from tests.gateway_process import API_KEY, GatewayProcess

ACCESS_KEY, SECRET_KEY = "AKIAFAKECONVERSE0001", "cOnVeRsE/SeCrEt+Key0123456789abcdefghijk"
LLAMA = "us.meta.llama3-3-70b-instruct-v1:0"
NOVA = "amazon.nova-lite-v1:0"
MESSAGES = [{"role": "user", "content": "Say hello"}]
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def _config(fake: FakeBedrock) -> dict[str, Any]:
    models = [
        {"id": m, "input_cost_per_mtok": 0.72, "output_cost_per_mtok": 0.72, "context_window": 128000}
        for m in (LLAMA, NOVA, "fake-tool", "fake-chunks-20", "fake-stream-error", "fake-429", "fake-context")
    ]
    provider = {"kind": "bedrock-converse", "base_url": fake.base_url, "region": "eu-west-1", "models": models}
    return {
        "providers": [
            {"name": "conv", "api_key": f"{ACCESS_KEY}:{SECRET_KEY}", **provider},
            {"name": "conv-key", "api_key": "ABSKY29udmVyc2Uta2V5", "probe_interval_s": 0, **provider},
        ],
        "routes": [
            {
                "name": "route/llama",
                "targets": [
                    {"provider": "conv", "model": "fake-429", "priority": 0},
                    {"provider": "conv-key", "model": LLAMA, "priority": 1},
                ],
            }
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }


@pytest.fixture(scope="module")
def fake_converse() -> Iterator[FakeBedrock]:
    server = FakeBedrock(
        api_key="ABSKY29udmVyc2Uta2V5", access_key=ACCESS_KEY, secret_key=SECRET_KEY, region="eu-west-1"
    )
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_converse: FakeBedrock) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("converse"), _config(fake_converse)) as gateway:
        yield gateway


@pytest.fixture(autouse=True)
def _clean(fake_converse: FakeBedrock) -> None:
    fake_converse.reset()


def _post(gw: GatewayProcess, path: str, body: dict[str, Any]) -> httpx.Response:
    with gw.http() as http:
        return http.post(path, json=body, headers={"Authorization": f"Bearer {API_KEY}"})


def test_chat_is_translated_to_converse_and_back(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model=f"conv/{LLAMA}",
        messages=[{"role": "system", "content": "Be brief."}, *MESSAGES],
        max_tokens=200,
        temperature=0.2,
        stop="END",
    )
    answer = raw.parse()
    assert answer.model == f"conv/{LLAMA}" and answer.choices[0].message.content
    assert answer.choices[0].finish_reason == "stop" and answer.usage.prompt_tokens > 0
    (call,) = fake_converse.calls
    assert (call.model_id, call.stream, call.auth) == (LLAMA, False, "sigv4")
    assert call.path == f"/model/{LLAMA}/converse"
    assert call.body["system"] == [{"text": "Be brief."}]
    assert call.body["messages"] == [{"role": "user", "content": [{"text": "Say hello"}]}]
    assert call.body["inferenceConfig"] == {"maxTokens": 200, "temperature": 0.2, "stopSequences": ["END"]}
    row = gw.logged(raw.headers["x-request-id"])
    assert (row["provider"], row["model"], row["prompt_tokens"]) == ("conv", LLAMA, answer.usage.prompt_tokens)
    assert row["cost_usd"] == pytest.approx(answer.usage.total_tokens * 0.72 / 1e6)


def test_stream_is_decoded_from_converse_events(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    chunks = list(
        gw.openai().chat.completions.create(
            model="conv/fake-chunks-20", messages=MESSAGES, stream=True, stream_options={"include_usage": True}
        )
    )
    pieces = [c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content]
    assert len(pieces) >= 10
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert fake_converse.calls[0].path == "/model/fake-chunks-20/converse-stream"


def test_tool_calls_round_trip(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    client = gw.openai()
    first = client.chat.completions.create(model="conv/fake-tool", messages=MESSAGES, tools=[WEATHER])
    (call,) = first.choices[0].message.tool_calls or []
    assert first.choices[0].finish_reason == "tool_calls" and call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == {"city": "Paris"}
    followup = [
        *MESSAGES,
        first.choices[0].message.model_dump(exclude_none=True),
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny, 21 C"},
    ]
    second = client.chat.completions.create(model="conv/fake-tool", messages=followup, tools=[WEATHER])
    assert second.choices[0].message.content and second.choices[0].finish_reason == "stop"
    sent = fake_converse.calls[-1].body
    assert sent["toolConfig"]["tools"][0]["toolSpec"]["name"] == "get_weather"
    assert sent["messages"][-1]["content"][0]["toolResult"]["toolUseId"] == call.id


def test_streamed_tool_call(gw: GatewayProcess) -> None:
    chunks = list(
        gw.openai().chat.completions.create(model="conv/fake-tool", messages=MESSAGES, tools=[WEATHER], stream=True)
    )
    deltas = [tc for c in chunks if c.choices for tc in (c.choices[0].delta.tool_calls or [])]
    assert deltas[0].function and deltas[0].function.name == "get_weather" and deltas[0].id
    arguments = "".join(d.function.arguments or "" for d in deltas if d.function)
    assert json.loads(arguments) == {"city": "Paris"}


def test_anthropic_callers_reach_converse_models(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    message = gw.anthropic().messages.create(model=f"conv-key/{NOVA}", max_tokens=100, messages=MESSAGES)
    assert message.content[0].type == "text" and message.content[0].text and message.stop_reason == "end_turn"
    assert fake_converse.calls[0].auth == "bearer"
    with gw.anthropic().messages.stream(model="conv/fake-chunks-20", max_tokens=100, messages=MESSAGES) as stream:
        assert "".join(stream.text_stream)


def test_responses_api_on_converse(gw: GatewayProcess) -> None:
    response = gw.openai().responses.create(model=f"conv/{NOVA}", input="Say hello")
    assert response.output_text and response.status == "completed"


def test_throttling_falls_back(gw: GatewayProcess) -> None:
    resp = _post(gw, "/v1/chat/completions", {"model": "route/llama", "messages": MESSAGES})
    assert resp.status_code == 200, resp.text
    assert resp.headers["x-polyroute-provider"] == "conv-key"


def test_a_mid_stream_exception_ends_with_an_error(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    # Events apart in time, so the exception comes after text reached the caller: in one read, the
    # attempt would fail before its first byte and (rightly) fall back instead.
    fake_converse.script("fake-stream-error", {"chunk_delay_ms": 40})
    body = {"model": "conv/fake-stream-error", "messages": MESSAGES, "stream": True}
    with (
        gw.http() as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {API_KEY}"}) as resp,
    ):
        text = resp.read().decode()
    assert resp.status_code == 200
    frames = [f for f in text.strip().split("\n\n") if f]
    assert '"error"' in frames[-1] and "[DONE]" not in text


def test_what_converse_cannot_express_is_refused(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    schema = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}
    resp = _post(
        gw, "/v1/chat/completions", {"model": f"conv/{LLAMA}", "messages": MESSAGES, "response_format": schema}
    )
    assert resp.status_code == 400 and "Converse" in resp.json()["error"]["message"]
    resp = _post(gw, "/v1/chat/completions", {"model": f"conv/{LLAMA}", "messages": MESSAGES, "n": 2})
    assert resp.status_code == 400 and resp.headers["x-error-code"]
    assert fake_converse.calls == []  # refused before anything was sent


def test_a_prompt_over_the_window_is_a_context_error(gw: GatewayProcess) -> None:
    resp = _post(gw, "/v1/chat/completions", {"model": "conv/fake-context", "messages": MESSAGES})
    assert resp.status_code == 400 and resp.headers["x-error-code"] == "CONTEXT_LENGTH_EXCEEDED"


def test_vendor_passthrough_to_converse_is_accounted(gw: GatewayProcess, fake_converse: FakeBedrock) -> None:
    body = {"messages": [{"role": "user", "content": [{"text": "Say hello"}]}], "inferenceConfig": {"maxTokens": 50}}
    resp = _post(gw, f"/vendors/conv/model/{NOVA}/converse", body)
    assert resp.status_code == 200, resp.text
    assert fake_converse.calls[-1].auth == "sigv4"
    row = gw.logged(resp.headers["x-request-id"])
    usage = resp.json()["usage"]
    assert (row["model"], row["prompt_tokens"], row["completion_tokens"]) == (
        NOVA,
        usage["inputTokens"],
        usage["outputTokens"],
    )
