"""The Responses API on every upstream, through the official openai SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.search import FakeSearch
from tests.gateway_process import GatewayProcess, start_gateway

pytestmark = pytest.mark.usefixtures("fakes_reset")

# model -> the upstream's model id (its fake answers "Hello from <id>. You said: <text>")
TARGETS = {
    "fakeai/gpt-fake": "gpt-fake",  # kind openai: native Responses passthrough
    "backup/gpt-fake": "gpt-fake",  # openai-compatible: chat only, translated
    "claude/claude-fake": "claude-fake",
    "gem/gemini-fake": "gemini-fake",
}
TOOL_MODELS = ["fakeai/fake-tool", "backup/fake-tool", "claude/fake-tool", "gem/fake-tool"]
TOOLS = [
    {
        "type": "function",
        "name": "get_weather",
        "description": "Weather for a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    }
]


@pytest.mark.parametrize("model", list(TARGETS))
def test_create_with_string_input(gateway: GatewayProcess, model: str) -> None:
    response = gateway.openai().responses.create(model=model, input="ping", instructions="Be brief.")
    assert response.status == "completed"
    assert response.output_text == f"Hello from {TARGETS[model]}. You said: ping"
    assert response.model == model
    assert response.usage is not None and response.usage.output_tokens > 0
    assert response.output[-1].type == "message"


@pytest.mark.parametrize("model", list(TARGETS))
def test_stream_helper_and_event_sequence(gateway: GatewayProcess, model: str) -> None:
    client = gateway.openai()
    with client.responses.stream(model=model, input=[{"role": "user", "content": "stream me"}]) as stream:
        events = [e for e in stream]
        final = stream.get_final_response()
    assert final.output_text == f"Hello from {TARGETS[model]}. You said: stream me"
    types = [e.type for e in events]
    assert types[:2] == ["response.created", "response.in_progress"]
    assert types[-1] == "response.completed"
    for needed in (
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
    ):
        assert needed in types
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == final.output_text


def test_native_upstream_gets_a_passthrough(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    gateway.openai().responses.create(model="fakeai/gpt-fake", input="x", metadata={"team": "a"}, max_output_tokens=50)
    sent = fake_openai.requests_for("/v1/responses")[-1].json()
    assert sent["input"] == "x" and sent["metadata"] == {"team": "a"} and sent["max_output_tokens"] == 50
    assert sent["model"] == "gpt-fake"
    assert not fake_openai.requests_for("/chat/completions")


@pytest.mark.parametrize("model", TOOL_MODELS)
@pytest.mark.parametrize("shape", ["call_id", "callId"])
def test_function_call_round_trip(gateway: GatewayProcess, model: str, shape: str) -> None:
    client = gateway.openai()
    target = model
    first = client.responses.create(model=target, input="weather in Paris and Tokyo?", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    assert [c.name for c in calls] == ["get_weather", "get_weather"]
    assert sorted(json.loads(c.arguments)["city"] for c in calls) == ["Paris", "Tokyo"]
    items: list[dict[str, Any]] = [{"role": "user", "content": "weather in Paris and Tokyo?"}]
    for c in calls:
        items.append({"type": "function_call", shape: c.call_id, "name": c.name, "arguments": c.arguments})
    for c in calls:
        city = json.loads(c.arguments)["city"]
        items.append({"type": "function_call_output", shape: c.call_id, "output": f"sunny in {city}"})
    with gateway.http() as http:
        resp = http.post(
            "/v1/responses",
            json={"model": target, "input": items, "tools": TOOLS},
            headers={"Authorization": f"Bearer {gateway.api_key}"},
        )
    assert resp.status_code == 200, resp.text
    text = "".join(
        part["text"] for item in resp.json()["output"] if item["type"] == "message" for part in item["content"]
    )
    assert "sunny in Paris" in text and "sunny in Tokyo" in text


@pytest.mark.parametrize("model", ["backup/gpt-fake", "claude/claude-fake", "gem/gemini-fake", "fakeai/gpt-fake"])
def test_previous_response_id_continues_on_any_upstream(gateway: GatewayProcess, model: str) -> None:
    client = gateway.openai()
    first = client.responses.create(model="claude/claude-fake", input="my name is Ada")
    second = client.responses.create(model=model, input="what is my name?", previous_response_id=first.id)
    assert second.output_text.endswith("You said: what is my name?")
    stored = client.responses.retrieve(first.id)
    assert stored.output_text == first.output_text


def test_previous_conversation_reaches_the_upstream(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = gateway.openai()
    first = client.responses.create(model="backup/gpt-fake", input="my name is Ada", instructions="Be nice.")
    fake_openai.reset()
    client.responses.create(model="fakeai/gpt-fake", input="and yours?", previous_response_id=first.id)
    sent = fake_openai.requests_for("/chat/completions")[-1].json()
    contents = [m.get("content") for m in sent["messages"]]
    assert contents == ["my name is Ada", first.output_text, "and yours?"]  # instructions are not carried over


def test_stored_responses_are_scoped_to_their_key_and_deletable(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    made = client.responses.create(model="gem/gemini-fake", input="keep me")
    other = gateway.openai(key="sk-poly-free-0123456789abcdefghij")
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="fakeai/gpt-fake", input="x", previous_response_id=made.id)
    client.responses.delete(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)


def test_bad_responses_input(gateway: GatewayProcess) -> None:
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with httpx.Client(base_url=gateway.base_url) as http:
        for body, needle in [
            ({"model": "gem/gemini-fake"}, "input"),
            ({"model": "gem/gemini-fake", "input": 3}, "input"),
            ({"model": "gem/gemini-fake", "input": [{"type": "function_call_output", "output": "x"}]}, "call_id"),
            ({"model": "gem/gemini-fake", "input": "x", "tools": [{"type": "code_interpreter"}]}, "code_interpreter"),
        ]:
            resp = http.post("/v1/responses", json=body, headers=headers)
            assert resp.status_code == 400, (body, resp.text)
            assert needle in resp.json()["detail"]


def test_web_search_run_by_the_gateway(gateway: GatewayProcess, fake_search: FakeSearch) -> None:
    client = gateway.openai()
    response = client.responses.create(
        model="backup/fake-search", input="polyroute gateways", tools=[{"type": "web_search"}]
    )
    calls = [item for item in response.output if item.type == "web_search_call"]
    assert len(calls) == 1 and calls[0].status == "completed"
    assert calls[0].action.query == "polyroute gateways"
    message = next(item for item in response.output if item.type == "message")
    annotations = message.content[0].annotations
    assert {a.url for a in annotations} == {
        "https://example.org/polyroute-gateways",
        "https://news.example.com/polyroute-gateways",
    }
    text = message.content[0].text
    assert all(text[a.start_index : a.end_index] == a.url for a in annotations)
    searched = fake_search.requests_for("/search")[-1]
    assert searched.headers["Authorization"] == "Bearer tvly-fake-secret"
    assert searched.json()["query"] == "polyroute gateways"
    with client.responses.stream(
        model="backup/fake-search", input="streamed search", tools=[{"type": "web_search"}]
    ) as stream:
        types = [e.type for e in stream]
        final = stream.get_final_response()
    assert "response.web_search_call.completed" in types and types[-1] == "response.completed"
    assert [i.type for i in final.output] == ["web_search_call", "message"]


def test_web_search_passes_through_to_a_native_upstream(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    gateway.openai().responses.create(model="fakeai/gpt-fake", input="x", tools=[{"type": "web_search"}])
    assert fake_openai.requests_for("/v1/responses")[-1].json()["tools"] == [{"type": "web_search"}]


def test_web_search_without_a_search_provider_is_a_clear_400(tmp_path: Path, fake_backup: FakeOpenAI) -> None:
    config = {
        "providers": [
            {
                "name": "backup",
                "kind": "openai-compatible",
                "base_url": fake_backup.base_url + "/v1",
                "models": [{"id": "fake-search"}],
            }
        ],
        "api_keys": [{"name": "k", "key": "sk-poly-test-0123456789abcdefghijkl"}],
    }
    gw = start_gateway(tmp_path, config)
    try:
        with pytest.raises(openai.BadRequestError) as err:
            gw.openai().responses.create(model="backup/fake-search", input="x", tools=[{"type": "web_search"}])
        assert "search provider" in err.value.message
    finally:
        gw.stop()
