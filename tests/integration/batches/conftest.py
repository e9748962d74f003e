"""A gateway in front of an OpenAI account with a native batch API, an OpenAI-compatible one and Anthropic."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from tests.db_backends import gateway_on
from tests.fakes.anthropic_batches import FakeAnthropicBatches
from tests.fakes.openai_audio_batches import FakeOpenAIAudioBatches
from tests.gateway_process import API_KEY, GatewayProcess

MAX_BODY = 256 * 1024
OTHER_KEY = "sk-poly-other-0123456789abcdefghijk"
BUDGET_KEY = "sk-poly-budget-0123456789abcdefghij"
ENV = {
    "POLYROUTE_MAX_BODY_BYTES": str(MAX_BODY),
    "POLYROUTE_PROBES_ENABLED": "false",
    "POLYROUTE_BATCH_POLL_S": "0.2",
    "POLYROUTE_BATCH_NATIVE_POLL_S": "0.2",
    "POLYROUTE_BATCH_CONCURRENCY": "2",
    "POLYROUTE_TASK_POLL_S": "0.2",
}


@dataclass
class Upstreams:
    oai: FakeOpenAIAudioBatches
    compat: FakeOpenAIAudioBatches
    claude: FakeAnthropicBatches


@pytest.fixture(scope="package")
def upstreams() -> Iterator[Upstreams]:
    found = Upstreams(
        FakeOpenAIAudioBatches().start(),
        FakeOpenAIAudioBatches().start(),
        FakeAnthropicBatches(api_key="sk-ant-b").start(),
    )
    yield found
    for fake in (found.oai, found.compat, found.claude):
        fake.stop()


def batch_config(up: Upstreams) -> dict[str, Any]:
    prices = {"input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0}
    return {
        "providers": [
            {
                "name": "oai",
                "kind": "openai",
                "base_url": up.oai.base_url + "/v1",
                "api_key": "sk-upstream-oai",
                "timeout_s": 5,
                "models": [{"id": "gpt-fake", **prices}, {"id": "text-embedding-fake"}],
            },
            {
                "name": "compat",
                "kind": "openai-compatible",
                "base_url": up.compat.base_url + "/v1",
                "api_key": "sk-upstream-compat",
                "timeout_s": 5,
                "models": [{"id": "gpt-fake", **prices}, {"id": "fake-slow-300"}, {"id": "fake-500"}],
            },
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": up.claude.base_url,
                "api_key": "sk-ant-b",
                "timeout_s": 5,
                "models": [{"id": "claude-fake", "input_cost_per_mtok": 3.0, "output_cost_per_mtok": 15.0}],
                "batch_cost_factor": 0.25,  # not the kind's 0.5: the setting wins
            },
        ],
        "routes": [
            {
                "name": "route/spread",
                "targets": [{"provider": "oai", "model": "gpt-fake"}, {"provider": "compat", "model": "gpt-fake"}],
            }
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "other", "key": OTHER_KEY, "plan": "internal"},
            {"name": "budget", "key": BUDGET_KEY, "plan": "internal", "limits": {"monthly_budget_usd": 0.000001}},
        ],
    }


@pytest.fixture(scope="module")
def batch_gateway(
    backend: str, tmp_path_factory: pytest.TempPathFactory, upstreams: Upstreams
) -> Iterator[GatewayProcess]:
    # The tests read what the package's fakes received: each backend's run starts from a clean record.
    for fake in (upstreams.oai, upstreams.compat, upstreams.claude):
        fake.reset()
    with gateway_on(backend, tmp_path_factory.mktemp("batches"), batch_config(upstreams), env=ENV) as gw:
        yield gw


def chat_line(custom_id: str, model: str, text: str = "hi", **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    return {"custom_id": custom_id, "method": "POST", "url": "/v1/chat/completions", "body": body}


def jsonl(lines: list[Any]) -> bytes:
    return "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines).encode()


def upload(client: Any, content: bytes, name: str = "input.jsonl") -> Any:
    return client.files.create(file=(name, io.BytesIO(content)), purpose="batch")


def wait_for(client: Any, batch_id: str, statuses: tuple[str, ...], timeout: float = 20.0) -> tuple[Any, list[str]]:
    """Poll `batches.retrieve` until one of `statuses`; returns the batch and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.batches.retrieve(batch_id)
        if not seen or seen[-1] != batch.status:
            seen.append(batch.status)
        if batch.status in statuses:
            return batch, seen
        time.sleep(0.05)
    raise AssertionError(f"batch {batch_id} stuck: seen {seen}")


def output_lines(client: Any, file_id: str | None) -> list[dict[str, Any]]:
    if file_id is None:
        return []
    return [json.loads(line) for line in client.files.content(file_id).text.splitlines() if line.strip()]
