"""The Anthropic adapter, and the fake Anthropic upstream proven wire-exact against the official SDK."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anthropic
import httpx
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionChunk

from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import SSESplitter, frame_data, frame_event
from app.providers.anthropic import ANTHROPIC_VERSION, AnthropicAdapter, merged_betas
from app.providers.base import UpstreamRequest
from app.translate.chat_to_messages import MessagesToChatStream, chat_request_to_messages, messages_response_to_chat
from tests.entries import provider_entry
from tests.fakes.anthropic import FakeAnthropic

KEY = "sk-ant-test-key"
WEATHER = {"name": "get_weather", "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}}}


def _provider(base_url: str = "https://api.anthropic.com", **extra: Any) -> ProviderEntry:
    return provider_entry(**{"name": "anthropic", "kind": "anthropic", "base_url": base_url, "api_key": KEY, **extra})


# -- adapter ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "base_url", ["https://api.anthropic.com", "https://api.anthropic.com/", "https://api.anthropic.com/v1", ""]
)
def test_generate_posts_to_v1_messages_once(base_url: str) -> None:
    req = AnthropicAdapter().generate(_provider(base_url), "claude-x", b"{}", stream=False)
    assert req.method == "POST"
    assert req.url == "https://api.anthropic.com/v1/messages"
    assert req.body == b"{}"
    assert req.headers == {
        "accept": "application/json",
        "content-type": "application/json",
        "anthropic-version": ANTHROPIC_VERSION,
        "x-api-key": KEY,
    }


def test_stream_accept_and_operator_headers() -> None:
    headers = {"anthropic-beta": "prompt-caching-2024-07-31", "X-Api-Key": "not-this-one"}
    req = AnthropicAdapter().generate(_provider("http://gw.local/anthropic/v1/", headers=headers), "m", b"", True)
    assert req.url == "http://gw.local/anthropic/v1/messages"
    assert req.headers["accept"] == "text/event-stream"
    assert req.headers["anthropic-beta"] == "prompt-caching-2024-07-31"
    assert req.headers["x-api-key"] == KEY


def test_auth_headers_and_probe() -> None:
    adapter = AnthropicAdapter()
    assert adapter.auth_headers(_provider()) == {"anthropic-version": "2023-06-01", "x-api-key": KEY}
    assert adapter.auth_headers(_provider(api_key=None)) == {"anthropic-version": "2023-06-01"}
    probe = adapter.probe(_provider())
    assert (probe.method, probe.url, probe.body) == ("GET", "https://api.anthropic.com/v1/models", None)
    assert probe.headers["x-api-key"] == KEY


def test_kind_dialect_and_capabilities() -> None:
    assert (AnthropicAdapter.kind, AnthropicAdapter.dialect) == ("anthropic", "anthropic")
    caps = AnthropicAdapter.capabilities
    assert caps.prefill
    assert caps.json_schema
    assert not caps.responses_native


def test_parse_error_reads_anthropic_bodies() -> None:
    adapter = AnthropicAdapter()
    body = b'{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"},"request_id":"req_1"}'
    error = adapter.parse_error(529, body)
    assert (error.message, error.type, error.content_policy) == ("Overloaded", "overloaded_error", False)
    long_prompt = b'{"type":"error","error":{"type":"invalid_request_error","message":"prompt is too long: 9 > 8"}}'
    assert adapter.parse_error(400, long_prompt).context_length


# -- the fake, driven by the official SDK ----------------------------------------------------------------


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def client(fake: FakeAnthropic) -> Iterator[anthropic.Anthropic]:
    fake.reset()
    with anthropic.Anthropic(api_key=KEY, base_url=fake.base_url, max_retries=0) as sdk:
        yield sdk


def _user(text: str) -> dict[str, Any]:
    return {"role": "user", "content": text}


def test_sdk_non_stream(client: anthropic.Anthropic, fake: FakeAnthropic) -> None:
    msg = client.messages.create(model="claude-fake", max_tokens=100, messages=[_user("hi")])
    assert msg.content[0].type == "text"
    assert msg.content[0].text == "Hello from claude-fake. You said: hi"
    assert msg.stop_reason == "end_turn"
    assert msg.usage.input_tokens > 0
    assert msg.usage.output_tokens > 0
    assert msg.usage.cache_read_input_tokens == 0
    assert fake.received[-1].path == "/v1/messages"


def test_sdk_stream_final_message(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="fake-chunks-7", max_tokens=100, messages=[_user("hi")]) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert final.content[0].type == "text"
    assert text == final.content[0].text
    assert text.startswith("Hello from fake-chunks-7. You said: hi")
    assert final.stop_reason == "end_turn"
    assert final.usage.output_tokens > 1


def test_raw_stream_framing_and_event_order(fake: FakeAnthropic) -> None:
    body = {"model": "fake-chunks-3", "max_tokens": 100, "stream": True, "messages": [_user("hi")]}
    headers = {"x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION}
    raw = httpx.post(fake.base_url + "/v1/messages", json=body, headers=headers).text
    frames = raw.split("\n\n")
    assert frames[-1] == ""
    events = [f.split("\n") for f in frames[:-1]]
    assert all(len(lines) == 2 and lines[0].startswith("event: ") and lines[1].startswith("data: ") for lines in events)
    names = [lines[0][7:] for lines in events]
    assert names == [
        "message_start",
        "ping",
        "content_block_start",
        *["content_block_delta"] * 3,
        "content_block_stop",
        "message_delta",
        "message_stop",
    ]
    datas = [json.loads(lines[1][6:]) for lines in events]
    assert [d["type"] for d in datas] == names
    start_usage = datas[0]["message"]["usage"]
    assert start_usage["output_tokens"] == 1
    assert start_usage["cache_read_input_tokens"] == 0
    assert datas[-2]["usage"]["output_tokens"] > 1


def test_sdk_tool_round_trip(client: anthropic.Anthropic) -> None:
    history: list[Any] = [_user("Weather in Paris and Tokyo?")]
    first = client.messages.create(model="fake-tool", max_tokens=200, messages=history, tools=[WEATHER])
    calls = [b for b in first.content if b.type == "tool_use"]
    assert first.stop_reason == "tool_use"
    assert [(c.name, c.input) for c in calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_weather", {"city": "Tokyo"}),
    ]
    history.append({"role": "assistant", "content": first.content})
    results = [
        {"type": "tool_result", "tool_use_id": c.id, "content": t} for c, t in zip(calls, ["18C", "25C"], strict=True)
    ]
    history.append({"role": "user", "content": results})
    with client.messages.stream(model="fake-tool", max_tokens=200, messages=history, tools=[WEATHER]) as stream:
        second = stream.get_final_message()
    assert second.content[0].type == "text"
    assert second.content[0].text == "Tool results: 18C | 25C"
    assert second.stop_reason == "end_turn"


def test_sdk_streamed_tool_calls(client: anthropic.Anthropic) -> None:
    with client.messages.stream(model="fake-tool", max_tokens=200, messages=[_user("go")], tools=[WEATHER]) as stream:
        final = stream.get_final_message()
    assert [b.input for b in final.content if b.type == "tool_use"] == [{"city": "Paris"}, {"city": "Tokyo"}]


def test_sdk_thinking_then_text_and_back(client: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    with client.messages.stream(
        model="fake-thinking", max_tokens=2048, thinking=thinking, messages=[_user("why?")]
    ) as stream:
        final = stream.get_final_message()
    assert [b.type for b in final.content] == ["thinking", "text"]
    assert final.content[0].type == "thinking"
    assert final.content[0].thinking == "Let me think about: why?"
    assert final.content[0].signature
    history: list[Any] = [_user("why?"), {"role": "assistant", "content": final.content}, _user("and?")]
    again = client.messages.create(model="fake-thinking", max_tokens=2048, messages=history)
    assert again.content[-1].type == "text"


def test_sdk_refusal_and_prefill(client: anthropic.Anthropic) -> None:
    refused = client.messages.create(model="fake-refusal", max_tokens=50, messages=[_user("bad")])
    assert refused.stop_reason == "refusal"
    prefilled = client.messages.create(
        model="claude-fake", max_tokens=50, messages=[_user("hi"), {"role": "assistant", "content": "Hello from"}]
    )
    assert prefilled.content[0].type == "text"
    assert prefilled.content[0].text == " claude-fake. You said: hi"


def test_sdk_stop_sequence_and_max_tokens(client: anthropic.Anthropic) -> None:
    stopped = client.messages.create(model="claude-fake", max_tokens=50, messages=[_user("hi")], stop_sequences=["."])
    assert (stopped.stop_reason, stopped.stop_sequence) == ("stop_sequence", ".")
    assert stopped.content[0].type == "text"
    assert stopped.content[0].text == "Hello from claude-fake"
    short = client.messages.create(model="claude-fake", max_tokens=2, messages=[_user("hi")])
    assert short.stop_reason == "max_tokens"


@pytest.mark.parametrize(
    ("model", "error", "status"),
    [
        ("fake-529", anthropic.OverloadedError, 529),
        ("fake-500", anthropic.InternalServerError, 500),
        ("fake-400", anthropic.BadRequestError, 400),
        ("fake-404", anthropic.NotFoundError, 404),
    ],
)
def test_sdk_error_statuses(client: anthropic.Anthropic, model: str, error: type[Exception], status: int) -> None:
    with pytest.raises(error) as info:
        client.messages.create(model=model, max_tokens=10, messages=[_user("hi")])
    assert isinstance(info.value, anthropic.APIStatusError)
    assert info.value.status_code == status
    assert info.value.body["type"] == "error"


def test_sdk_rate_limit_carries_retry_after(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.RateLimitError) as info:
        client.messages.create(model="fake-429", max_tokens=10, messages=[_user("hi")])
    assert info.value.response.headers["retry-after"] == "1"


def test_sdk_stream_error_event(client: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError, match="Overloaded"):
        with client.messages.stream(model="fake-stream-error", max_tokens=10, messages=[_user("hi")]) as stream:
            stream.get_final_message()


def test_sdk_models(client: anthropic.Anthropic) -> None:
    assert [m.id for m in client.models.list()] == ["claude-fake"]


@pytest.mark.parametrize(
    ("messages", "message"),
    [
        ([{"role": "assistant", "content": "hi"}], 'first message must use the "user" role'),
        ([_user("a"), _user("b")], "roles must alternate"),
        ([_user("a"), {"role": "assistant", "content": "b "}], "trailing whitespace"),
        ([_user("")], "non-empty content"),
        (
            [
                _user("a"),
                {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f", "input": {}}]},
                _user("b"),
            ],
            "`tool_use` ids were found without `tool_result` blocks immediately after: t1",
        ),
        (
            [
                _user("a"),
                {"role": "assistant", "content": "b"},
                {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "nope", "content": "x"}]},
            ],
            "unexpected `tool_use_id`",
        ),
    ],
)
def test_fake_enforces_anthropic_message_rules(client: anthropic.Anthropic, messages: list[Any], message: str) -> None:
    with pytest.raises(anthropic.BadRequestError, match=message):
        client.messages.create(model="claude-fake", max_tokens=10, messages=messages)


@pytest.mark.parametrize(
    ("headers", "body", "status", "kind", "message"),
    [
        ({"anthropic-version": ANTHROPIC_VERSION}, {"max_tokens": 5}, 401, "authentication_error", "x-api-key"),
        (
            {"x-api-key": "wrong", "anthropic-version": ANTHROPIC_VERSION},
            {"max_tokens": 5},
            401,
            "authentication_error",
            "invalid x-api-key",
        ),
        ({"x-api-key": KEY}, {"max_tokens": 5}, 400, "invalid_request_error", "anthropic-version"),
        ({"x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION}, {}, 400, "invalid_request_error", "max_tokens"),
        (
            {"x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION},
            {"max_tokens": 5, "temperature": 1.5},
            400,
            "invalid_request_error",
            "temperature",
        ),
    ],
)
def test_fake_rejects_bad_requests_with_anthropic_errors(
    fake: FakeAnthropic, headers: dict[str, str], body: dict[str, Any], status: int, kind: str, message: str
) -> None:
    doc = {"model": "claude-fake", "messages": [_user("hi")], **body}
    resp = httpx.post(fake.base_url + "/v1/messages", json=doc, headers=headers)
    assert resp.status_code == status
    error = resp.json()
    assert error["type"] == "error"
    assert error["error"]["type"] == kind
    assert message in error["error"]["message"]


def test_fake_no_done_ends_without_message_stop(fake: FakeAnthropic) -> None:
    body = {"model": "fake-no-done", "max_tokens": 100, "stream": True, "messages": [_user("hi")]}
    headers = {"x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION}
    raw = httpx.post(fake.base_url + "/v1/messages", json=body, headers=headers).text
    assert "event: content_block_stop" in raw
    assert "message_delta" not in raw
    assert "message_stop" not in raw


def test_fake_cut_resets_the_connection(fake: FakeAnthropic) -> None:
    body = {"model": "fake-cut", "max_tokens": 100, "stream": True, "messages": [_user("hi")]}
    headers = {"x-api-key": KEY, "anthropic-version": ANTHROPIC_VERSION}
    with pytest.raises(httpx.HTTPError):
        httpx.post(fake.base_url + "/v1/messages", json=body, headers=headers)


# -- adapter + translation against the fake: the translated request is one the fake accepts ---------------


def _send(req: UpstreamRequest) -> httpx.Response:
    return httpx.request(req.method, req.url, headers=req.headers, content=req.body)


def _chat_body(stream: bool) -> dict[str, Any]:
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'}}
    return {
        "model": "anthropic/fake-tool",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": "18C"},
        ],
        "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": WEATHER["input_schema"]}}],
        "stream": stream,
    }


def test_translated_chat_request_round_trips_through_the_fake(fake: FakeAnthropic) -> None:
    provider = _provider(fake.base_url)
    body = json.dumps(chat_request_to_messages(_chat_body(False), "fake-tool")).encode()
    resp = _send(AnthropicAdapter().generate(provider, "fake-tool", body, stream=False))
    assert resp.status_code == 200, resp.text
    chat = ChatCompletion.model_validate(messages_response_to_chat(resp.json(), "anthropic/fake-tool"))
    assert chat.choices[0].message.content == "Tool results: 18C"
    assert chat.choices[0].finish_reason == "stop"
    assert chat.usage is not None
    assert chat.usage.prompt_tokens > 0


def test_translated_stream_yields_valid_chat_chunks(fake: FakeAnthropic) -> None:
    provider = _provider(fake.base_url)
    body = json.dumps(
        chat_request_to_messages({"model": "x", "messages": [_user("hi")], "stream": True}, "fake-thinking")
    )
    resp = _send(AnthropicAdapter().generate(provider, "fake-thinking", body.encode(), stream=True))
    assert resp.status_code == 200, resp.text
    stream = MessagesToChatStream(public_model="anthropic/fake-thinking")
    chunks = []
    for frame in SSESplitter().feed(resp.content):
        name, data = frame_event(frame), frame_data(frame)
        assert name is not None
        assert data is not None
        chunks += [ChatCompletionChunk.model_validate(c) for c in stream.feed(name.decode(), json.loads(data))]
    assert stream.done
    assert stream.text == "Hello from fake-thinking. You said: hi"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == stream.text
    assert chunks[-1].usage is not None
    assert chunks[-1].usage.completion_tokens > 0
    assert stream.finish_reason == "stop"


def test_probe_answers_on_the_fake(fake: FakeAnthropic) -> None:
    resp = _send(AnthropicAdapter().probe(_provider(fake.base_url)))
    assert resp.status_code == 200
    assert resp.json()["data"][0]["id"] == "claude-fake"


def test_betas_merge_with_each_flag_once_in_first_seen_order() -> None:
    assert merged_betas("a, b", "b,c", None, " ,a") == "a,b,c"
    assert merged_betas(None, "x") == "x"
