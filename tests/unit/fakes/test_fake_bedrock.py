"""The fake Bedrock runtime over HTTP: bearer and SigV4 auth (signed by our signer), request rules, errors, streams."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from botocore.eventstream import EventStreamBuffer  # type: ignore[import-untyped]

from app.gateway.sse import frame_data, frame_event
from app.providers.aws_eventstream import BedrockStreamSplitter
from app.providers.aws_sigv4 import sign
from tests.fakes.bedrock import FakeBedrock

KEY = "ABSKQmVkcm9ja0FQSUtleS1mYWtl"
AK, SK, TOKEN = "AKIAFAKEFAKEFAKE", "fakeSecret/Key+0123456789abcdefghijklmno", "FwoGZXIvYXdzEFake//token=="
MODEL = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
PATH = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
BODY: dict[str, Any] = {
    "anthropic_version": "bedrock-2023-05-31",
    "max_tokens": 200,
    "messages": [{"role": "user", "content": "Hello there"}],
}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeBedrock]:
    server = FakeBedrock(api_key=KEY, access_key=AK, secret_key=SK, session_token=TOKEN, region="eu-west-1")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(fake: FakeBedrock) -> Iterator[httpx.Client]:
    fake.reset()
    with httpx.Client(base_url=fake.base_url, timeout=5) as c:
        yield c


def signed(
    fake: FakeBedrock, path: str, body: bytes, *, secret: str = SK, now: datetime | None = None
) -> httpx.Request:
    url = fake.base_url + path
    headers = {"content-type": "application/json"}
    headers |= sign(
        "POST",
        url,
        headers,
        body,
        access_key=AK,
        secret_key=secret,
        session_token=TOKEN,
        region="eu-west-1",
        service="bedrock",
        now=now or datetime.now(UTC),
    )
    return httpx.Request("POST", url, headers=headers, content=body)


def bearer(path: str, doc: Any) -> dict[str, Any]:
    return {"url": path, "content": json.dumps(doc), "headers": {"authorization": f"Bearer {KEY}"}}


def test_sigv4_signed_by_our_signer_is_accepted(fake: FakeBedrock, client: httpx.Client) -> None:
    body = json.dumps({**BODY, "anthropic_beta": ["context-1m-2025-08-07"]}).encode()
    response = client.send(signed(fake, f"{PATH}/invoke", body))
    assert response.status_code == 200, response.text
    message = response.json()
    assert message["model"] == MODEL
    assert message["content"][0]["type"] == "text"
    assert int(response.headers["x-amzn-bedrock-input-token-count"]) == message["usage"]["input_tokens"]
    [call] = fake.calls
    assert (call.model_id, call.stream, call.auth) == (MODEL, False, "sigv4")
    assert call.anthropic_beta == ["context-1m-2025-08-07"]


@pytest.mark.parametrize(
    ("change", "error_type"),
    [
        ({"secret": "wrong" + SK}, "InvalidSignatureException"),
        ({"now": datetime.now(UTC) - timedelta(minutes=20)}, "InvalidSignatureException"),
    ],
)
def test_sigv4_mismatch_is_refused(fake: FakeBedrock, client: httpx.Client, change: Any, error_type: str) -> None:
    response = client.send(signed(fake, f"{PATH}/invoke", json.dumps(BODY).encode(), **change))
    assert response.status_code == 403
    assert response.headers["x-amzn-errortype"] == error_type


def test_tampered_body_breaks_the_signature(fake: FakeBedrock, client: httpx.Client) -> None:
    request = signed(fake, f"{PATH}/invoke", json.dumps(BODY).encode())
    body = json.dumps(BODY).replace("Hello there", "Hello thera")  # same length: only the signature can object
    tampered = httpx.Request("POST", request.url, headers=request.headers, content=body)
    response = client.send(tampered)
    assert response.status_code == 403
    assert response.json()["message"].startswith("The request signature we calculated does not match")


def test_missing_and_wrong_bearer_are_refused(client: httpx.Client) -> None:
    missing = client.post(f"{PATH}/invoke", content=json.dumps(BODY))
    wrong = client.post(f"{PATH}/invoke", content=json.dumps(BODY), headers={"authorization": "Bearer nope"})
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert missing.headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({**BODY, "model": MODEL}, "extraneous key [model] is not permitted"),
        ({**BODY, "stream": True}, "extraneous key [stream] is not permitted"),
        ({k: v for k, v in BODY.items() if k != "anthropic_version"}, "required key [anthropic_version] not found"),
        ({**BODY, "messages": [{"role": "assistant", "content": "x"}]}, 'first message must use the "user" role'),
        ({k: v for k, v in BODY.items() if k != "max_tokens"}, "max_tokens: Field required"),
    ],
)
def test_request_rules(client: httpx.Client, doc: dict[str, Any], fragment: str) -> None:
    response = client.post(**bearer(f"{PATH}/invoke", doc))
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert fragment in response.json()["message"]


@pytest.mark.parametrize(
    ("model", "status", "error_type"),
    [
        ("fake-429", 429, "ThrottlingException"),
        ("fake-500", 500, "InternalServerException"),
        ("fake-503", 503, "ServiceUnavailableException"),
        ("fake-424", 424, "ModelErrorException"),
        ("fake-400", 400, "ValidationException"),
        ("fake-context", 400, "ValidationException"),
    ],
)
def test_failure_models(client: httpx.Client, model: str, status: int, error_type: str) -> None:
    response = client.post(**bearer(f"/model/{model}/invoke", BODY))
    assert (response.status_code, response.headers["x-amzn-errortype"]) == (status, error_type)
    if model == "fake-context":
        assert response.json() == {"message": "Input is too long for requested model."}


def test_stream_decodes_to_anthropic_events(fake: FakeBedrock, client: httpx.Client) -> None:
    response = client.send(signed(fake, f"{PATH}/invoke-with-response-stream", json.dumps(BODY).encode()))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    frames = BedrockStreamSplitter().feed(response.content)
    events = [frame_event(f) for f in frames]
    assert events[0] == b"message_start"
    assert events[-2:] == [b"message_delta", b"message_stop"]
    assert b"ping" not in events
    text = "".join(json.loads(frame_data(f) or b"")["delta"]["text"] for f in frames if b"text_delta" in f)
    assert text
    stop = json.loads(frame_data(frames[-1]) or b"")
    assert set(stop["amazon-bedrock-invocationMetrics"]) == {
        "inputTokenCount",
        "outputTokenCount",
        "invocationLatency",
        "firstByteLatency",
    }
    assert fake.calls[-1].stream is True


def test_chunks_and_scripted_stream_exception(fake: FakeBedrock, client: httpx.Client) -> None:
    deltas = BedrockStreamSplitter().feed(
        client.post(**bearer("/model/fake-chunks-7/invoke-with-response-stream", BODY)).content
    )
    assert sum(b"text_delta" in f for f in deltas) == 7
    fake.script("fake-x", {"stream_error": 2, "stream_exception": "throttlingException"})
    frames = BedrockStreamSplitter().feed(
        client.post(**bearer("/model/fake-x/invoke-with-response-stream", BODY)).content
    )
    assert len(frames) == 3
    assert json.loads(frame_data(frames[-1]) or b"")["error"]["type"] == "rate_limit_error"


# -- Converse ----------------------------------------------------------------------------------------------

CONVERSE: dict[str, Any] = {
    "system": [{"text": "Be brief."}],
    "messages": [{"role": "user", "content": [{"text": "Hello there"}]}],
    "inferenceConfig": {"maxTokens": 200, "temperature": 0.5},
}
WEATHER_TOOLS = {"tools": [{"toolSpec": {"name": "get_weather", "inputSchema": {"json": {"type": "object"}}}}]}


def decode_events(content: bytes) -> list[tuple[str, str, dict[str, Any]]]:
    """(message type, event or exception type, payload) per event stream message, as botocore reads them."""
    buffer = EventStreamBuffer()
    buffer.add_data(content)
    out = []
    for message in buffer:
        headers = message.headers
        assert headers[":content-type"] == "application/json"
        kind = headers.get(":event-type") or headers.get(":exception-type")
        out.append((headers[":message-type"], kind, json.loads(message.payload)))
    return out


def test_converse_answers_with_sigv4(fake: FakeBedrock, client: httpx.Client) -> None:
    response = client.send(signed(fake, f"{PATH}/converse", json.dumps(CONVERSE).encode()))
    assert response.status_code == 200, response.text
    doc = response.json()
    assert doc["output"]["message"] == {
        "role": "assistant",
        "content": [{"text": f"Hello from {MODEL}. You said: Hello there"}],
    }
    assert doc["stopReason"] == "end_turn"
    assert doc["usage"]["outputTokens"] == 7  # the words of the answer
    assert doc["usage"]["inputTokens"] == len(json.dumps(CONVERSE["messages"])) // 4
    assert doc["usage"]["totalTokens"] == doc["usage"]["inputTokens"] + 7
    assert doc["metrics"]["latencyMs"] >= 1
    [call] = fake.calls
    assert (call.model_id, call.stream, call.auth, call.path) == (MODEL, False, "sigv4", f"/model/{MODEL}/converse")


def test_converse_stream_decodes_with_botocore(fake: FakeBedrock, client: httpx.Client) -> None:
    response = client.send(signed(fake, f"{PATH}/converse-stream", json.dumps(CONVERSE).encode()))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.amazon.eventstream"
    events = decode_events(response.content)
    assert {kind for kind, _, _ in events} == {"event"}
    names = [name for _, name, _ in events]
    assert names == ["messageStart", *["contentBlockDelta"] * 5, "contentBlockStop", "messageStop", "metadata"]
    assert all(isinstance(payload.pop("p"), str) for _, _, payload in events)
    assert events[0][2] == {"role": "assistant"}
    text = "".join(payload["delta"]["text"] for _, name, payload in events if name == "contentBlockDelta")
    assert text == f"Hello from {MODEL}. You said: Hello there"
    assert events[-2][2] == {"stopReason": "end_turn"}
    assert set(events[-1][2]) == {"usage", "metrics"}
    assert fake.calls[-1].stream is True


def test_converse_tool_round_trip(client: httpx.Client) -> None:
    first = client.post(**bearer("/model/fake-tool/converse", {**CONVERSE, "toolConfig": WEATHER_TOOLS}))
    assert first.status_code == 200, first.text
    doc = first.json()
    use = {"toolUseId": "tooluse_fake_1", "name": "get_weather", "input": {"city": "Paris"}}
    assert (doc["output"]["message"]["content"], doc["stopReason"]) == ([{"toolUse": use}], "tool_use")
    result = {"toolResult": {"toolUseId": "tooluse_fake_1", "content": [{"text": "18C"}]}}
    messages = [*CONVERSE["messages"], doc["output"]["message"], {"role": "user", "content": [result]}]
    second = client.post(**bearer("/model/fake-tool/converse", {"messages": messages, "toolConfig": WEATHER_TOOLS}))
    assert second.status_code == 200, second.text
    assert second.json()["output"]["message"]["content"] == [{"text": "Tool results: 18C"}]
    stream = client.post(**bearer("/model/fake-tool/converse-stream", {**CONVERSE, "toolConfig": WEATHER_TOOLS}))
    events = decode_events(stream.content)
    starts = [payload for _, name, payload in events if name == "contentBlockStart"]
    assert [s["start"] for s in starts] == [{"toolUse": {"toolUseId": "tooluse_fake_1", "name": "get_weather"}}]
    arguments = "".join(p["delta"]["toolUse"]["input"] for _, name, p in events if name == "contentBlockDelta")
    assert json.loads(arguments) == {"city": "Paris"}


USE = {"toolUse": {"toolUseId": "t1", "name": "f", "input": {}}}
RESULT = {"toolResult": {"toolUseId": "t1", "content": [{"text": "ok"}]}}
TOOL_TURNS = [
    {"role": "user", "content": [{"text": "q"}]},
    {"role": "assistant", "content": [USE]},
    {"role": "user", "content": [RESULT]},
]


@pytest.mark.parametrize(
    ("doc", "fragment"),
    [
        ({**CONVERSE, "model": MODEL}, "extraneous key [model] is not permitted"),
        ({**CONVERSE, "stream": True}, "extraneous key [stream] is not permitted"),
        ({**CONVERSE, "messages": []}, "at 'messages' failed to satisfy constraint"),
        ({"messages": [{"role": "assistant", "content": [{"text": "x"}]}]}, "must start with a user message"),
        ({"messages": [*CONVERSE["messages"], *CONVERSE["messages"]]}, "must alternate between user and assistant"),
        ({"messages": [{"role": "user", "content": [{"text": " "}]}]}, "at messages.0.content.0 is blank"),
        ({"messages": [{"role": "user", "content": [{"text": "a", "image": {}}]}]}, "must set exactly one of"),
        ({"messages": TOOL_TURNS}, "The toolConfig field must be defined"),
        ({"messages": TOOL_TURNS[:2], "toolConfig": WEATHER_TOOLS}, "Expected toolResult blocks at messages.2"),
        (
            {"messages": [TOOL_TURNS[0], {"role": "assistant", "content": [{"text": "a"}]}, TOOL_TURNS[2]]},
            "does not match any toolUse block",
        ),
        ({**CONVERSE, "inferenceConfig": {"temperature": 1.5}}, "Value '1.5' at 'inferenceConfig.temperature'"),
        ({**CONVERSE, "inferenceConfig": {"maxTokens": "100"}}, "at 'inferenceConfig.maxTokens'"),
        ({**CONVERSE, "inferenceConfig": {"topK": 5}}, "extraneous key [topK] is not permitted"),
        ({**CONVERSE, "inferenceConfig": {"stopSequences": "END"}}, "'inferenceConfig.stopSequences'"),
    ],
)
def test_converse_request_rules(client: httpx.Client, doc: dict[str, Any], fragment: str) -> None:
    response = client.post(**bearer(f"{PATH}/converse", doc))
    assert response.status_code == 400
    assert response.headers["x-amzn-errortype"] == "ValidationException"
    assert fragment in response.json()["message"]


def test_converse_auth_and_failure_models(client: httpx.Client) -> None:
    missing = client.post(f"{PATH}/converse", content=json.dumps(CONVERSE))
    assert (missing.status_code, missing.headers["x-amzn-errortype"]) == (403, "MissingAuthenticationTokenException")
    throttled = client.post(**bearer("/model/fake-429/converse-stream", CONVERSE))
    assert (throttled.status_code, throttled.headers["x-amzn-errortype"]) == (429, "ThrottlingException")
    context = client.post(**bearer("/model/fake-context/converse", CONVERSE))
    assert context.status_code == 400
    assert context.json() == {"message": "Input is too long for requested model."}


def test_converse_chunks_and_stream_error(client: httpx.Client) -> None:
    chunks = decode_events(client.post(**bearer("/model/fake-chunks-7/converse-stream", CONVERSE)).content)
    assert sum(name == "contentBlockDelta" for _, name, _ in chunks) == 7
    broken = decode_events(client.post(**bearer("/model/fake-stream-error/converse-stream", CONVERSE)).content)
    assert [kind for kind, _, _ in broken] == ["event"] * 4 + ["exception"]
    assert broken[-1][1:] == ("modelStreamErrorException", {"message": "Overloaded"})
