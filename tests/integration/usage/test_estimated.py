"""Whole (non-stream) answers whose upstream reports no usage are counted with bpe-openai and flagged.

The fake upstream's `fake-no-usage` model answers without a `usage` member in every dialect; the
gateway must still bill the tokens the caller received, the same way it does for streams.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from functools import cache
from typing import Any

import anthropic
import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.usage.harness import KEYS, PRICE, fetch, usage_config, wait_until

_PER_MESSAGE = 3  # the chat format's per-message overhead, as OpenAI's cookbook counts it


@cache
def _encoding() -> Any:
    with warnings.catch_warnings():
        # bpe_openai loads its encodings at import through a deprecated importlib API.
        warnings.simplefilter("ignore", DeprecationWarning)
        import bpe_openai

        return bpe_openai.get_encoding("o200k_base")


def _tokens(text: str) -> int:
    return len(_encoding().encode(text))


@pytest.fixture(scope="module")
def gw(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("estimated"), usage_config(fake_openai)) as gw:
        yield gw


def _row(gw: GatewayProcess, request_id: str) -> dict[str, Any]:
    sql = "SELECT * FROM usage_event WHERE id = ?"
    wait_until(lambda: bool(fetch(gw.database_url, sql, request_id)))
    return fetch(gw.database_url, sql, request_id)[0]


def _check(row: dict[str, Any], prompt: int, completion: int) -> None:
    assert row["estimated"] and not row["stream"] and row["status"] == 200
    assert (row["prompt_tokens"], row["completion_tokens"]) == (prompt, completion)
    price = prompt * PRICE["input_cost_per_mtok"] + completion * PRICE["output_cost_per_mtok"]
    assert row["cost_usd"] == pytest.approx(price / 1e6, rel=1e-9)


def test_chat_answer_without_usage_is_estimated(gw: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=KEYS["open"])
    raw = client.chat.completions.with_raw_response.create(
        model="fakeai/fake-no-usage", messages=[{"role": "user", "content": "estimate this prompt"}]
    )
    answer = raw.parse().choices[0].message.content or ""
    assert answer
    row = _row(gw, raw.headers["x-request-id"])
    _check(row, _tokens("estimate this prompt") + _PER_MESSAGE, _tokens(answer))


def test_translated_messages_answer_without_usage_is_estimated(gw: GatewayProcess) -> None:
    client = anthropic.Anthropic(base_url=gw.base_url, api_key=KEYS["open"])
    raw = client.messages.with_raw_response.create(
        model="fakeai/fake-no-usage",
        max_tokens=100,
        system="be brief",
        messages=[{"role": "user", "content": "count what you can"}],
    )
    answer = "".join(b.text for b in raw.parse().content if b.type == "text")
    assert answer
    row = _row(gw, raw.headers["x-request-id"])
    _check(row, _tokens("be brief\ncount what you can") + _PER_MESSAGE, _tokens(answer))


def test_responses_answer_without_usage_is_estimated(gw: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=KEYS["open"])
    raw = client.responses.with_raw_response.create(model="fakeai/fake-no-usage", input="a responses prompt")
    answer = raw.parse().output_text
    assert answer
    row = _row(gw, raw.headers["x-request-id"])
    _check(row, _tokens("a responses prompt") + _PER_MESSAGE, _tokens(answer))


def test_reported_usage_is_not_replaced(gw: GatewayProcess) -> None:
    client = openai.OpenAI(base_url=gw.base_url + "/v1", api_key=KEYS["open"])
    raw = client.chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "estimate this prompt"}]
    )
    usage = raw.parse().usage
    assert usage is not None
    row = _row(gw, raw.headers["x-request-id"])
    assert not row["estimated"]
    assert (row["prompt_tokens"], row["completion_tokens"]) == (usage.prompt_tokens, usage.completion_tokens)
