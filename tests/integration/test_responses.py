"""The Responses API on every upstream, through the official openai SDK."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.db_backends import BACKENDS, gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
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
@pytest.mark.parametrize("shape", ["call_id", "callId", "id"])
def test_function_call_round_trip(gateway: GatewayProcess, model: str, shape: str, fake_openai: FakeOpenAI) -> None:
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
    if model.startswith("fakeai/"):  # native upstream: every item reaches OpenAI spelled its way
        sent = fake_openai.requests_for("/v1/responses")[-1].json()["input"]
        call_items = [i for i in sent if i.get("type") in ("function_call", "function_call_output")]
        assert len(call_items) == 4
        assert all(i["call_id"] in {c.call_id for c in calls} and "callId" not in i for i in call_items)


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


SCHEMA = {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}


def test_request_fields_reach_each_upstream_in_its_dialect(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> None:
    fields: dict[str, Any] = {
        "instructions": "Be brief.",
        "temperature": 0.25,
        "max_output_tokens": 77,
        "metadata": {"team": "a"},
        "tools": TOOLS,
        "tool_choice": {"type": "function", "name": "get_weather"},
        "text": {"format": {"type": "json_schema", "name": "place", "schema": SCHEMA, "strict": True}},
    }
    client = gateway.openai()
    for model in ("claude/claude-fake", "gem/gemini-fake"):
        response = client.responses.create(model=model, input="where?", **fields)
        assert response.status == "completed" and response.metadata == {"team": "a"}
        assert (
            response.temperature == 0.25 and response.max_output_tokens == 77 and response.instructions == "Be brief."
        )
        assert response.text.format.type == "json_schema"  # type: ignore[union-attr]
        assert response.tools[0].name == "get_weather"  # type: ignore[union-attr]
    sent = fake_anthropic.requests_for("/v1/messages")[-1].json()
    assert sent["system"] == "Be brief." and sent["temperature"] == 0.25 and sent["max_tokens"] == 77
    assert sent["tool_choice"] == {"type": "tool", "name": "get_weather"}
    assert sent["tools"][0]["name"] == "get_weather" and sent["tools"][0]["input_schema"] == TOOLS[0]["parameters"]
    assert sent["output_config"]["format"] == {"type": "json_schema", "schema": SCHEMA}
    assert "metadata" not in sent  # Responses metadata is the caller's label, not Anthropic's user_id
    sent = fake_gemini.requests_for(":generateContent")[-1].json()
    assert sent["systemInstruction"]["parts"] == [{"text": "Be brief."}]
    config = sent["generationConfig"]
    assert config["temperature"] == 0.25 and config["maxOutputTokens"] == 77
    assert config["responseMimeType"] == "application/json" and config["responseSchema"]["required"] == ["city"]
    assert sent["toolConfig"]["functionCallingConfig"] == {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}


@pytest.mark.parametrize("model", ["claude/claude-fake", "fakeai/gpt-fake"])
def test_store_false_keeps_nothing(gateway: GatewayProcess, model: str) -> None:
    client = gateway.openai()
    made = client.responses.create(model=model, input="forget me", store=False)
    assert made.store is False
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.create(model="claude/claude-fake", input="and now?", previous_response_id=made.id)


@pytest.mark.parametrize("backend", BACKENDS)  # the continuation reads the stored response back
def test_web_search_is_never_lost_on_a_continuation_or_a_mixed_route(
    backend: str, tmp_path: Path, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, fake_search: FakeSearch
) -> None:
    """Native search needs the native passthrough on every target; otherwise the gateway searches."""
    config = {
        "providers": [
            {
                "name": "native",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "models": [{"id": "fake-search"}],
            },
            {
                "name": "chat",
                "kind": "openai-compatible",
                "base_url": fake_backup.base_url + "/v1",
                "models": [{"id": "fake-search"}],
            },
            {"name": "search", "kind": "tavily", "base_url": fake_search.base_url, "api_key": fake_search.api_key},
        ],
        "routes": [
            {
                "name": "route/mixed",
                "targets": [
                    {"provider": "native", "model": "fake-search"},
                    {"provider": "chat", "model": "fake-search", "priority": 1},
                ],
            }
        ],
        "api_keys": [{"name": "k", "key": "sk-poly-test-0123456789abcdefghijkl"}],
    }
    with gateway_on(backend, tmp_path, config) as gw:
        client = gw.openai()
        tools: Any = [{"type": "web_search"}]
        first = client.responses.create(model="native/fake-search", input="hello", tools=tools)
        assert fake_openai.requests_for("/v1/responses")[-1].json()["tools"] == tools  # native: passed through
        assert not any(item.type == "web_search_call" for item in first.output)
        fake_search.reset()
        second = client.responses.create(
            model="native/fake-search", input="polyroute news", tools=tools, previous_response_id=first.id
        )
        assert [item.type for item in second.output] == ["web_search_call", "message"]
        assert fake_search.requests_for("/search")[-1].json()["query"] == "polyroute news"
        mixed = client.responses.create(model="route/mixed", input="mixed search", tools=tools)
        assert [item.type for item in mixed.output] == ["web_search_call", "message"]
        assert fake_search.requests_for("/search")[-1].json()["query"] == "mixed search"


def test_a_cut_answer_is_incomplete_whole_and_streamed(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    whole = client.responses.create(model="claude/claude-fake", input="a long enough question", max_output_tokens=2)
    assert whole.status == "incomplete"
    assert whole.incomplete_details is not None and whole.incomplete_details.reason == "max_output_tokens"
    assert whole.output_text  # the part that was produced is kept
    with client.responses.stream(
        model="claude/claude-fake", input="a long enough question", max_output_tokens=2
    ) as stream:
        events = list(stream)  # the SDK's get_final_response() wants response.completed: read the last event
    assert events[-1].type == "response.incomplete" and "response.completed" not in {e.type for e in events}
    final = events[-1].response  # type: ignore[union-attr]
    assert final.status == "incomplete" and final.incomplete_details.reason == "max_output_tokens"
    assert final.output_text == whole.output_text


@pytest.mark.parametrize("model", ["claude/fake-cut", "fakeai/fake-cut"])  # translated, native passthrough
def test_an_upstream_failure_mid_stream_ends_with_response_failed(gateway: GatewayProcess, model: str) -> None:
    body = {"model": model, "input": "x", "stream": True}  # the connection drops after some text
    headers = {"Authorization": f"Bearer {gateway.api_key}"}
    with gateway.http() as http, http.stream("POST", "/v1/responses", json=body, headers=headers) as resp:
        assert resp.status_code == 200
        events = [json.loads(line[6:]) for line in resp.iter_lines() if line.startswith("data: ")]
    assert events[0]["type"] == "response.created"
    assert events[-1]["type"] == "response.failed"
    failed = events[-1]["response"]
    assert failed["status"] == "failed" and failed["error"]["message"]
    numbers = [e["sequence_number"] for e in events]
    assert numbers == list(range(len(events)))


@pytest.mark.parametrize("model", TOOL_MODELS)
def test_streamed_function_calls_with_argument_events(gateway: GatewayProcess, model: str) -> None:
    with gateway.openai().responses.stream(model=model, input="weather in Paris and Tokyo?", tools=TOOLS) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert "response.function_call_arguments.delta" in types and types[-1] == "response.completed"
    done = [e for e in events if e.type == "response.function_call_arguments.done"]
    calls = [item for item in final.output if item.type == "function_call"]
    assert len(done) == len(calls) == 2
    assert [d.arguments for d in done] == [c.arguments for c in calls]  # type: ignore[union-attr]
    assert sorted(json.loads(c.arguments)["city"] for c in calls) == ["Paris", "Tokyo"]
    assert all(c.call_id and c.name == "get_weather" for c in calls)
    for call in calls:  # each item's argument deltas add up to its final arguments
        pieces = [
            e.delta for e in events if e.type == "response.function_call_arguments.delta" and e.item_id == call.id
        ]  # type: ignore[union-attr]
        assert "".join(pieces) == call.arguments


@pytest.mark.parametrize("model", ["fakeai/gpt-fake", "claude/claude-fake"])
def test_input_items_list_every_turn_the_response_was_made_from(gateway: GatewayProcess, model: str) -> None:
    """`client.responses.input_items.list`: earlier turns, this request's input (not instructions, not
    the answer), newest first by default, paged by `after`; on a native upstream and a translated one."""
    client = gateway.openai()
    first = client.responses.create(model=model, input="my name is Ada", instructions="Be nice.")
    second = client.responses.create(
        model=model,
        input=[{"role": "user", "content": [{"type": "input_text", "text": "what is my name?"}]}],
        previous_response_id=first.id,
    )
    items = list(client.responses.input_items.list(second.id, order="asc"))
    shapes = [(i.type, getattr(i, "role", None)) for i in items]
    assert shapes == [("message", "user"), ("message", "assistant"), ("message", "user")]
    texts = [i.content[0].text for i in items]  # type: ignore[union-attr]
    assert texts == ["my name is Ada", first.output_text, "what is my name?"]
    assert [c.type for i in items for c in i.content] == ["input_text", "output_text", "input_text"]  # type: ignore[union-attr]
    newest = client.responses.input_items.list(second.id, limit=2)
    assert [i.id for i in newest.data] == [items[2].id, items[1].id] and newest.has_more
    rest = client.responses.input_items.list(second.id, limit=2, after=newest.data[-1].id)
    assert [i.id for i in rest.data] == [items[0].id] and not rest.has_more
    assert [i.id for i in client.responses.input_items.list(second.id, order="asc")] == [i.id for i in items]
    (only,) = client.responses.input_items.list(first.id).data  # the first response: its own input alone
    assert only.content[0].text == "my name is Ada"  # type: ignore[union-attr]


def test_input_items_keep_function_calls_and_their_outputs(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    first = client.responses.create(model="backup/fake-tool", input="weather in Paris and Tokyo?", tools=TOOLS)
    calls = [item for item in first.output if item.type == "function_call"]
    outputs = [{"type": "function_call_output", "call_id": c.call_id, "output": "sunny"} for c in calls]
    second = client.responses.create(
        model="backup/gpt-fake",
        input=outputs,  # type: ignore[arg-type]
        previous_response_id=first.id,
        tools=TOOLS,  # type: ignore[arg-type]
    )
    items = list(client.responses.input_items.list(second.id, order="asc"))
    assert [i.type for i in items] == [
        "message",
        "function_call",
        "function_call",
        "function_call_output",
        "function_call_output",
    ]
    assert [i.call_id for i in items[1:3]] == [c.call_id for c in calls]  # type: ignore[union-attr]
    assert [i.output for i in items[3:]] == ["sunny", "sunny"]  # type: ignore[union-attr]


def test_input_items_refusals(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    made = client.responses.create(model="gem/gemini-fake", input="keep me")
    with pytest.raises(openai.NotFoundError):
        gateway.openai(key="sk-poly-free-0123456789abcdefghij").responses.input_items.list(made.id)
    with pytest.raises(openai.NotFoundError):
        client.responses.input_items.list("resp_nope")
    for params in ({"limit": 0}, {"limit": "x"}, {"order": "sideways"}, {"after": "msg_nope"}):
        with gateway.http(headers={"Authorization": f"Bearer {gateway.api_key}"}) as http:
            resp = http.get(f"/v1/responses/{made.id}/input_items", params=params)
        assert resp.status_code == 400 and resp.headers["x-error-code"] == "INVALID_REQUEST", params
