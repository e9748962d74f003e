"""The fake Gemini upstream over real HTTP: wire shapes, failure modes, rejections, and our translator against it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import msgspec
import pytest

from app.gateway.snapshot import ProviderEntry
from app.gateway.sse import SSESplitter, frame_data
from app.providers.gemini import GeminiAdapter
from app.translate.gemini.embeddings import chat_embeddings_to_gemini, gemini_embeddings_to_openai
from app.translate.gemini.request import chat_request_to_gemini
from app.translate.gemini.response import GeminiToChatStream, gemini_response_to_chat
from tests.entries import provider_entry
from tests.fakes.gemini import FakeGemini

KEY = "AIza-fake-key"
HELLO = {"contents": [{"role": "user", "parts": [{"text": "Hi"}]}]}


@pytest.fixture(scope="module")
def fake() -> Iterator[FakeGemini]:
    server = FakeGemini(api_key=KEY).start()
    yield server
    server.stop()


@pytest.fixture
def gemini(fake: FakeGemini) -> Iterator[httpx.Client]:
    fake.reset()
    with httpx.Client(base_url=fake.base_url + "/v1beta", headers={"x-goog-api-key": KEY}, timeout=5) as client:
        yield client


def sse_payloads(raw: bytes) -> list[dict[str, Any]]:
    frames = SSESplitter().feed(raw)
    return [json.loads(data) for frame in frames if (data := frame_data(frame)) is not None]


def stream(client: httpx.Client, model: str, body: dict[str, Any]) -> httpx.Response:
    return client.post(f"/models/{model}:streamGenerateContent", params={"alt": "sse"}, json=body)


# -- wire shapes ------------------------------------------------------------------------------


def test_generate_content_shape(gemini: httpx.Client, fake: FakeGemini) -> None:
    resp = gemini.post("/models/gemini-fake:generateContent", json=HELLO)
    assert resp.status_code == 200
    doc = resp.json()
    assert set(doc) == {"candidates", "usageMetadata", "modelVersion", "responseId"}
    assert doc["candidates"] == [
        {
            "content": {"parts": [{"text": "Hello from gemini-fake. You said: Hi"}], "role": "model"},
            "index": 0,
            "finishReason": "STOP",
        }
    ]
    usage = doc["usageMetadata"]
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]
    assert fake.received[-1].headers["x-goog-api-key"] == KEY


def test_sse_framing_and_cumulative_usage(gemini: httpx.Client) -> None:
    resp = stream(gemini, "fake-chunks-7", HELLO)
    assert resp.headers["content-type"].startswith("text/event-stream")
    raw = resp.content
    assert raw.startswith(b"data: {")
    assert raw.endswith(b"}\r\n\r\n")
    assert raw.count(b"\r\n\r\n") == 7
    fragments = sse_payloads(raw)
    assert len(fragments) == 7
    assert [bool(f["candidates"][0].get("finishReason")) for f in fragments] == [False] * 6 + [True]
    counts = [f["usageMetadata"]["candidatesTokenCount"] for f in fragments]
    assert counts == sorted(counts)
    assert "".join(f["candidates"][0]["content"]["parts"][0]["text"] for f in fragments) == (
        "Hello from fake-chunks-7. You said: Hi"
    )


def test_stream_without_alt_sse_is_a_json_array(gemini: httpx.Client) -> None:
    resp = gemini.post("/models/fake-chunks-3:streamGenerateContent", json=HELLO)
    assert resp.headers["content-type"].startswith("application/json")
    fragments = resp.json()
    assert isinstance(fragments, list)
    assert len(fragments) == 3
    assert fragments[-1]["candidates"][0]["finishReason"] == "STOP"


def test_models_list(gemini: httpx.Client) -> None:
    models = gemini.get("/models").json()["models"]
    assert [m["name"] for m in models] == ["models/gemini-fake", "models/text-embedding-fake"]
    assert "generateContent" in models[0]["supportedGenerationMethods"]


def test_batch_embeddings(gemini: httpx.Client) -> None:
    requests = [
        {"model": "models/text-embedding-fake", "content": {"parts": [{"text": t}]}, "outputDimensionality": 4}
        for t in ("a", "b")
    ]
    doc = gemini.post("/models/text-embedding-fake:batchEmbedContents", json={"requests": requests}).json()
    assert [len(e["values"]) for e in doc["embeddings"]] == [4, 4]
    assert doc["embeddings"][0] != doc["embeddings"][1]


# -- behaviours -------------------------------------------------------------------------------


def test_tool_calls_then_text_once_answered(gemini: httpx.Client) -> None:
    first = gemini.post("/models/fake-tool:generateContent", json=HELLO).json()["candidates"][0]
    calls = [p["functionCall"] for p in first["content"]["parts"]]
    assert calls == [
        {"name": "get_weather", "args": {"city": "Paris"}},
        {"name": "get_weather", "args": {"city": "Tokyo"}},
    ]
    assert first["finishReason"] == "STOP"
    answered = {
        "contents": [
            *HELLO["contents"],
            {"role": "model", "parts": first["content"]["parts"]},
            {
                "role": "user",
                "parts": [{"functionResponse": {"name": "get_weather", "response": {"t": i}}} for i in (1, 2)],
            },
        ]
    }
    second = gemini.post("/models/fake-tool:generateContent", json=answered).json()["candidates"][0]
    assert second["content"]["parts"][0]["text"].startswith("Tool results: ")


def test_thinking_shows_thoughts_only_when_asked(gemini: httpx.Client) -> None:
    asked = {**HELLO, "generationConfig": {"thinkingConfig": {"includeThoughts": True, "thinkingBudget": 1024}}}
    fragments = sse_payloads(stream(gemini, "fake-thinking", asked).content)
    assert [bool(f["candidates"][0]["content"]["parts"][0].get("thought")) for f in fragments[:3]] == [
        True,
        True,
        False,
    ]
    assert fragments[-1]["usageMetadata"]["thoughtsTokenCount"] == 24
    quiet = gemini.post("/models/fake-thinking:generateContent", json=HELLO).json()
    assert not any(p.get("thought") for p in quiet["candidates"][0]["content"]["parts"])
    assert quiet["usageMetadata"]["thoughtsTokenCount"] == 24


def test_safety_and_prompt_block(gemini: httpx.Client) -> None:
    safety = gemini.post("/models/fake-safety:generateContent", json=HELLO).json()
    assert safety["candidates"][0]["finishReason"] == "SAFETY"
    assert "content" not in safety["candidates"][0]
    blocked = gemini.post("/models/fake-blocked:generateContent", json=HELLO).json()
    assert "candidates" not in blocked
    assert blocked["promptFeedback"]["blockReason"] == "SAFETY"


def test_no_finish_stream_ends_cleanly_without_finish_reason(gemini: httpx.Client) -> None:
    fragments = sse_payloads(stream(gemini, "fake-no-finish", HELLO).content)
    assert fragments
    assert not any(f["candidates"][0].get("finishReason") for f in fragments)


def test_cut_stream_resets_the_connection(fake: FakeGemini) -> None:
    url = fake.base_url + "/v1beta/models/fake-cut:streamGenerateContent?alt=sse"
    with pytest.raises(httpx.TransportError):
        with httpx.stream("POST", url, json=HELLO, headers={"x-goog-api-key": KEY}, timeout=5) as resp:
            resp.read()


def test_stall_first_sends_headers_then_nothing(fake: FakeGemini) -> None:
    url = fake.base_url + "/v1beta/models/fake-stall-first:streamGenerateContent?alt=sse"
    timeout = httpx.Timeout(5, read=0.3)
    with httpx.stream("POST", url, json=HELLO, headers={"x-goog-api-key": KEY}, timeout=timeout) as resp:
        assert resp.status_code == 200
        with pytest.raises(httpx.ReadTimeout):
            resp.read()


def test_stall_never_answers(fake: FakeGemini) -> None:
    url = fake.base_url + "/v1beta/models/fake-stall:generateContent"
    with pytest.raises(httpx.ReadTimeout):
        httpx.post(url, json=HELLO, headers={"x-goog-api-key": KEY}, timeout=httpx.Timeout(5, read=0.3))


@pytest.mark.parametrize(
    ("model", "status", "name"),
    [
        ("fake-500", 500, "INTERNAL"),
        ("fake-503", 503, "UNAVAILABLE"),
        ("fake-429", 429, "RESOURCE_EXHAUSTED"),
        ("fake-400", 400, "INVALID_ARGUMENT"),
        ("fake-403", 403, "PERMISSION_DENIED"),
        ("fake-404", 404, "NOT_FOUND"),
    ],
)
def test_failure_statuses(gemini: httpx.Client, model: str, status: int, name: str) -> None:
    resp = stream(gemini, model, HELLO)
    assert resp.status_code == status
    error = resp.json()["error"]
    assert (error["code"], error["status"]) == (status, name)
    assert error["message"]
    if status == 429:
        assert resp.headers["retry-after"] == "1"
        assert error["details"] == [{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": "1s"}]


def test_script_overrides_the_next_request(gemini: httpx.Client, fake: FakeGemini) -> None:
    fake.script("gemini-fake", {"text": "scripted", "finish_reason": "MAX_TOKENS", "cached_tokens": 8})
    doc = gemini.post("/models/gemini-fake:generateContent", json=HELLO).json()
    assert doc["candidates"][0]["content"]["parts"] == [{"text": "scripted"}]
    assert doc["candidates"][0]["finishReason"] == "MAX_TOKENS"
    assert doc["usageMetadata"]["cachedContentTokenCount"] == 8
    again = gemini.post("/models/gemini-fake:generateContent", json=HELLO).json()
    assert again["candidates"][0]["finishReason"] == "STOP"


# -- rejections -------------------------------------------------------------------------------


def part(**kwargs: Any) -> dict[str, Any]:
    return {"contents": [{"role": "user", "parts": [kwargs]}]}


CALL_TURN = {"role": "model", "parts": [{"functionCall": {"name": "f", "args": {}}}, {"functionCall": {"name": "g"}}]}
REJECTED = [
    ("empty contents", {"contents": []}, "contents is not specified"),
    ("assistant role", {"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "valid role"),
    ("system role", {"contents": [{"role": "system", "parts": [{"text": "x"}]}]}, "valid role"),
    ("empty parts", {"contents": [{"role": "user", "parts": []}]}, "must not be empty"),
    ("empty text", part(text=""), "empty text"),
    ("two data fields", part(text="a", inlineData={"mimeType": "image/png", "data": "AA=="}), "oneof"),
    ("bad base64", part(inlineData={"mimeType": "image/png", "data": "not base64!"}), "Base64"),
    ("nameless response", part(functionResponse={"response": {"a": 1}}), "Name cannot be empty"),
    ("string response", part(functionResponse={"name": "f", "response": "ok"}), "Struct"),
    ("unknown field", {**HELLO, "messages": []}, 'Unknown name "messages"'),
    ("unknown config", {**HELLO, "generationConfig": {"max_tokens": 5}}, 'Unknown name "max_tokens"'),
    (
        "schema keyword",
        {
            **HELLO,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "string"}},
                                "additionalProperties": False,
                            },
                        }
                    ]
                }
            ],
        },
        'Unknown name "additionalProperties"',
    ),
    (
        "empty object params",
        {
            **HELLO,
            "tools": [{"functionDeclarations": [{"name": "f", "parameters": {"type": "object", "properties": {}}}]}],
        },
        "non-empty for OBJECT",
    ),
    (
        "properties on a string",
        {
            **HELLO,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "string", "properties": {"b": {"type": "string"}}}},
                            },
                        }
                    ]
                }
            ],
        },
        "only allowed for OBJECT type",
    ),
    (
        "undefined required",
        {
            **HELLO,
            "tools": [
                {
                    "functionDeclarations": [
                        {
                            "name": "f",
                            "parameters": {
                                "type": "object",
                                "properties": {"a": {"type": "string"}},
                                "required": ["a", "b"],
                            },
                        }
                    ]
                }
            ],
        },
        "property is not defined",
    ),
    (
        "allowed names with AUTO",
        {**HELLO, "toolConfig": {"functionCallingConfig": {"mode": "AUTO", "allowedFunctionNames": ["f"]}}},
        "mode is ANY",
    ),
    (
        "unanswered calls",
        {
            "contents": [
                *HELLO["contents"],
                CALL_TURN,
                {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {}}}]},
            ]
        },
        "number of function response parts",
    ),
    (
        "call after model turn",
        {"contents": [{"role": "model", "parts": [{"text": "x"}]}, CALL_TURN]},
        "function call turn",
    ),
]


@pytest.mark.parametrize(("body", "needle"), [(b, n) for _, b, n in REJECTED], ids=[r[0] for r in REJECTED])
def test_invalid_requests_are_rejected_like_gemini(gemini: httpx.Client, body: dict[str, Any], needle: str) -> None:
    resp = gemini.post("/models/gemini-fake:generateContent", json=body)
    assert resp.status_code == 400
    error = resp.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert needle in error["message"]


def test_snake_case_fields_are_accepted_like_gemini(gemini: httpx.Client) -> None:
    body = {
        **HELLO,
        "system_instruction": {"parts": [{"text": "Be brief."}]},
        "generation_config": {"max_output_tokens": 5},
    }
    assert gemini.post("/models/gemini-fake:generateContent", json=body).status_code == 200


def test_missing_or_wrong_key(fake: FakeGemini) -> None:
    url = fake.base_url + "/v1beta/models/gemini-fake:generateContent"
    missing = httpx.post(url, json=HELLO, headers={"authorization": f"Bearer {KEY}"})
    assert missing.status_code == 403
    assert missing.json()["error"]["status"] == "PERMISSION_DENIED"
    in_query = httpx.post(url, params={"key": KEY}, json=HELLO)
    assert in_query.status_code == 403
    wrong = httpx.post(url, json=HELLO, headers={"x-goog-api-key": "AIza-wrong"})
    assert wrong.status_code == 400
    assert wrong.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"
    assert httpx.get(fake.base_url + "/v1beta/models").status_code == 403


def test_embedding_model_must_match(gemini: httpx.Client) -> None:
    body = {"requests": [{"model": "models/other", "content": {"parts": [{"text": "a"}]}}]}
    resp = gemini.post("/models/text-embedding-fake:batchEmbedContents", json=body)
    assert resp.status_code == 400
    assert "models/text-embedding-fake" in resp.json()["error"]["message"]


# -- our adapter and translator against the fake ----------------------------------------------


def provider(fake: FakeGemini) -> ProviderEntry:
    return provider_entry(name="gem", kind="gemini", base_url=fake.base_url + "/v1beta", api_key=KEY)


def send(fake: FakeGemini, model: str, chat: dict[str, Any], stream: bool) -> httpx.Response:
    body = msgspec.json.encode(chat_request_to_gemini(chat, model))
    req = GeminiAdapter().generate(provider(fake), model, body, stream)
    return httpx.request(req.method, req.url, headers=req.headers, content=req.body, timeout=5)


def test_chat_round_trip_with_parallel_tools(fake: FakeGemini) -> None:
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"],
        "additionalProperties": False}, "strict": True}}]  # fmt: skip
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Weather?"},
    ]
    chat = {"model": "gem/fake-tool", "messages": messages, "tools": tools, "tool_choice": "auto"}
    first = gemini_response_to_chat(send(fake, "fake-tool", chat, stream=False).json(), "gem/fake-tool")
    choice = first["choices"][0]
    assert choice["finish_reason"] == "tool_calls"
    calls = choice["message"]["tool_calls"]
    assert [(c["id"], c["function"]["arguments"]) for c in calls] == [
        ("call_0", '{"city":"Paris"}'),
        ("call_1", '{"city":"Tokyo"}'),
    ]
    messages.append(choice["message"])
    messages += [{"role": "tool", "tool_call_id": c["id"], "content": f"sunny in {c['id']}"} for c in reversed(calls)]
    second = send(fake, "fake-tool", {**chat, "messages": messages}, stream=False)
    assert second.status_code == 200, second.text
    answer = gemini_response_to_chat(second.json(), "gem/fake-tool")["choices"][0]["message"]["content"]
    assert answer == 'Tool results: {"content": "sunny in call_1"} | {"content": "sunny in call_0"}'


def test_chat_stream_round_trip_with_thinking(fake: FakeGemini) -> None:
    chat = {"messages": [{"role": "user", "content": "Why?"}], "reasoning_effort": "low", "stream": True}
    resp = send(fake, "fake-thinking", chat, stream=True)
    translator = GeminiToChatStream(public_model="gem/fake-thinking")
    chunks = [c for payload in sse_payloads(resp.content) for c in translator.feed(payload)] + translator.finish()
    deltas = [c["choices"][0]["delta"] for c in chunks if c["choices"]]
    assert "".join(d.get("reasoning_content", "") for d in deltas) == "Let me think about this. The answer is clear."
    assert translator.text == "Hello from fake-thinking. You said: Why?"
    assert translator.done
    assert translator.finish_reason == "stop"
    assert chunks[-1]["usage"]["completion_tokens_details"] == {"reasoning_tokens": 24}


def test_embeddings_round_trip(fake: FakeGemini) -> None:
    body = msgspec.json.encode(
        chat_embeddings_to_gemini({"input": ["a", "b", "c"], "dimensions": 3}, "text-embedding-fake")
    )
    req = GeminiAdapter().embed(provider(fake), "text-embedding-fake", body)
    resp = httpx.request(req.method, req.url, headers=req.headers, content=req.body, timeout=5)
    out = gemini_embeddings_to_openai(resp.json(), "gem/text-embedding-fake", 3)
    assert [(d["index"], len(d["embedding"])) for d in out["data"]] == [(0, 3), (1, 3), (2, 3)]


def test_probe_against_the_fake(fake: FakeGemini) -> None:
    req = GeminiAdapter().probe(provider(fake))
    assert httpx.request(req.method, req.url, headers=req.headers, timeout=5).status_code == 200
