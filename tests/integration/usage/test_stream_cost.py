"""Streamed spend is exact in every dialect: a stream's usage row equals the same answer's whole one.

Anthropic reports prompt-cache reads (`cache_read_input_tokens`, in `message_start`) and Gemini
reports cached and thinking tokens (`cachedContentTokenCount`, `thoughtsTokenCount`, cumulative in
every fragment). Each caller dialect (Chat Completions, Messages, Responses) streams from each of
them, and the row must carry the upstream's cached and reasoning tokens and a cost priced with the
cached-input rate, the same as for the non-stream call (other gateways log streamed spend as 0).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.gateway_process import GatewayProcess
from tests.integration.usage.harness import KEYS, fetch, wait_until

CLAUDE = {"input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0, "cached_input_cost_per_mtok": 0.3}
GEMINI = {"input_cost_per_mtok": 1.25, "output_cost_per_mtok": 10.0, "cached_input_cost_per_mtok": 0.31}
PRICES = {"claude": CLAUDE, "gem": GEMINI}
CACHED = {"claude": 400, "gem": 100}
"""Prompt tokens each upstream reports as read from its prompt cache."""
THOUGHTS = 24
"""Gemini's fake reports this many thinking tokens for `fake-thinking`."""
MODELS = {"claude": "claude-cost", "gem": "fake-thinking"}
PROMPT = "What does a prompt cache save? " * 20


@pytest.fixture(scope="module")
def upstreams() -> Iterator[tuple[FakeAnthropic, FakeGemini]]:
    claude, gem = FakeAnthropic(), FakeGemini()
    claude.start()
    gem.start()
    yield claude, gem
    claude.stop()
    gem.stop()


@pytest.fixture(scope="module")
def gw(
    backend: str, tmp_path_factory: pytest.TempPathFactory, upstreams: tuple[FakeAnthropic, FakeGemini]
) -> Iterator[GatewayProcess]:
    claude, gem = upstreams
    config = {
        "providers": [
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": claude.base_url,
                "api_key": "sk-ant-cost",
                "models": [{"id": MODELS["claude"], **CLAUDE}],
            },
            {
                "name": "gem",
                "kind": "gemini",
                "base_url": gem.base_url + "/v1beta",
                "api_key": "gem-cost",
                "models": [{"id": MODELS["gem"], **GEMINI}],
            },
        ],
        "plans": [{"name": "open", "models": ["*"]}],
        "api_keys": [{"name": "k-open", "key": KEYS["open"], "plan": "open"}],
    }
    with gateway_on(backend, tmp_path_factory.mktemp("stream-cost"), config) as process:
        yield process


def _chat(gw: GatewayProcess, model: str, stream: bool) -> str:
    client = openai.OpenAI(base_url=gw.v1, api_key=KEYS["open"], max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]
    if not stream:
        return client.chat.completions.with_raw_response.create(model=model, messages=messages).headers["x-request-id"]
    with client.chat.completions.with_streaming_response.create(model=model, messages=messages, stream=True) as resp:
        chunks = list(resp.parse())  # to the end: `any` alone stops early and hangs up mid-stream (499)
        assert any(chunk.choices and chunk.choices[0].delta.content for chunk in chunks)
        return resp.headers["x-request-id"]


def _messages(gw: GatewayProcess, model: str, stream: bool) -> str:
    client = anthropic.Anthropic(base_url=gw.base_url, api_key=KEYS["open"], max_retries=0)
    messages: Any = [{"role": "user", "content": PROMPT}]
    if not stream:
        return client.messages.with_raw_response.create(model=model, max_tokens=200, messages=messages).headers[
            "x-request-id"
        ]
    with client.messages.with_streaming_response.create(
        model=model, max_tokens=200, messages=messages, stream=True
    ) as resp:
        assert [e.type for e in resp.parse()][-1] == "message_stop"
        return resp.headers["x-request-id"]


def _responses(gw: GatewayProcess, model: str, stream: bool) -> str:
    client = openai.OpenAI(base_url=gw.v1, api_key=KEYS["open"], max_retries=0)
    if not stream:
        return client.responses.with_raw_response.create(model=model, input=PROMPT, store=False).headers["x-request-id"]
    with client.responses.with_streaming_response.create(model=model, input=PROMPT, store=False, stream=True) as resp:
        assert [e.type for e in resp.parse()][-1] == "response.completed"
        return resp.headers["x-request-id"]


CALLERS: dict[str, Callable[[GatewayProcess, str, bool], str]] = {
    "chat": _chat,
    "messages": _messages,
    "responses": _responses,
}


def _row(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    sql = "SELECT * FROM usage_event WHERE id = ?"
    wait_until(lambda: bool(fetch(gw.database_url, sql, request_id)))
    return fetch(gw.database_url, sql, request_id)[0]


@pytest.mark.parametrize("provider", ["claude", "gem"])
@pytest.mark.parametrize("caller", list(CALLERS))
def test_a_streamed_answer_costs_what_the_whole_one_does(
    gw: GatewayProcess, upstreams: tuple[FakeAnthropic, FakeGemini], caller: str, provider: str
) -> None:
    claude, gem = upstreams
    model = MODELS[provider]
    rows = {}
    for stream in (False, True):
        if provider == "claude":
            claude.script(model, {"cache_read": CACHED["claude"]})
        else:
            gem.script(model, {"thinking": True, "cached_tokens": CACHED["gem"]})
        rows[stream] = _row(gw, CALLERS[caller](gw, f"{provider}/{model}", stream))
    whole, streamed = rows[False], rows[True]
    fields = ("status", "prompt_tokens", "completion_tokens", "cached_tokens", "reasoning_tokens", "estimated")
    assert {f: streamed[f] for f in fields} == {f: whole[f] for f in fields}
    assert streamed["stream"] and not whole["stream"]
    assert streamed["status"] == 200 and not streamed["estimated"]
    assert streamed["cached_tokens"] == CACHED[provider] < streamed["prompt_tokens"]
    assert streamed["reasoning_tokens"] == (THOUGHTS if provider == "gem" else 0)
    price = PRICES[provider]
    fresh = streamed["prompt_tokens"] - streamed["cached_tokens"]
    expected = (
        fresh * price["input_cost_per_mtok"]
        + streamed["cached_tokens"] * price["cached_input_cost_per_mtok"]
        + streamed["completion_tokens"] * price["output_cost_per_mtok"]
    ) / 1e6
    assert streamed["cost_usd"] == pytest.approx(expected, rel=1e-9)
    assert whole["cost_usd"] == pytest.approx(expected, rel=1e-9)
