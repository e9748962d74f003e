"""The gateway's own log: JSON lines with request and trace ids, and a planted secret never shows up in it."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.observability.conftest import observed_config

pytestmark = pytest.mark.usefixtures("fakes_reset")

SECRET = "sk-poly-planted-" + os.urandom(12).hex()


@pytest.fixture(scope="module")
def planted(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> Iterator[GatewayProcess]:
    config = observed_config(fake_openai, fake_backup, upstream_key=SECRET)  # the provider credential
    config["api_keys"].append({"name": "planted", "key": SECRET, "plan": "internal"})  # a caller's key
    with gateway_on(backend, tmp_path_factory.mktemp("logs"), config, env={"POLYROUTE_LOG_LEVEL": "DEBUG"}) as gw:
        yield gw


def _records(gw: GatewayProcess) -> list[dict[str, Any]]:
    out = []
    for line in gw.log().splitlines():
        if line.startswith("{"):
            out.append(json.loads(line))
    return out


def _chat(gw: GatewayProcess, model: str, headers: dict[str, str]) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": f"my key is {SECRET}"}]}
    return httpx.post(gw.v1 + "/chat/completions", json=body, headers=headers, timeout=30)


def test_each_inference_request_gets_one_access_line_with_its_ids(planted: GatewayProcess) -> None:
    trace_id = os.urandom(16).hex()
    headers = {"authorization": f"Bearer {SECRET}", "traceparent": f"00-{trace_id}-{'1' * 16}-01"}
    resp = _chat(planted, "fakeai/gpt-fake", {**headers, "x-request-id": "req-access-line-test"})
    assert resp.status_code == 200
    deadline = time.monotonic() + 5
    lines: list[dict[str, Any]] = []
    while not lines and time.monotonic() < deadline:
        time.sleep(0.05)
        lines = [r for r in _records(planted) if r.get("request_id") == "req-access-line-test"]
    [line] = lines
    assert line["logger"] == "polyroute.access"
    assert line["trace_id"] == trace_id
    assert (line["method"], line["path"], line["status"]) == ("POST", "/v1/chat/completions", 200)
    assert (line["provider"], line["model"]) == ("fakeai", "gpt-fake")
    assert line["latency_ms"] > 0
    assert line["message"].startswith("POST /v1/chat/completions 200 ")


def test_a_planted_secret_never_reaches_the_log(  # runs last: stops the server
    planted: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    gw = planted
    ok = _chat(gw, "fakeai/gpt-fake", {"authorization": f"Bearer {SECRET}"})
    assert ok.status_code == 200
    assert fake_openai.received[-1].headers["Authorization"] == f"Bearer {SECRET}"  # it really is the upstream key
    failing = _chat(gw, "no-such/model", {"x-api-key": SECRET, "x-debug": f"Authorization: Bearer {SECRET}"})
    assert failing.status_code == 400
    wrong = _chat(gw, "fakeai/gpt-fake", {"x-api-key": SECRET[:-1] + "x"})  # someone else's near-miss
    assert wrong.status_code == 401
    fake_openai.script("fake-401", {"status": 401, "message": f"Incorrect API key provided: {SECRET}"})
    assert _chat(gw, "fakeai/fake-401", {"x-api-key": SECRET}).status_code >= 400
    # An upstream answer this malformed currently makes the pipeline raise, which the endpoint logs with
    # its traceback (INTERNAL_ERROR); the usage field carries the secret too.
    fake_openai.script("gpt-fake", {"status": 200, "body": {"choices": [], "usage": {"prompt_tokens": [SECRET]}}})
    crashed = _chat(gw, "fakeai/gpt-fake", {"authorization": f"Bearer {SECRET}"})
    assert crashed.status_code in (200, 500, 502)

    gw.stop()
    log = gw.log()
    assert SECRET not in log
    assert SECRET[len("sk-poly-") :] not in log
    records = _records(gw)
    assert records, log[-2000:]
    if crashed.status_code == 500:
        [logged] = [r for r in records if r.get("request_id") == crashed.headers["x-request-id"] and "exc" in r]
        assert "Traceback" in logged["exc"]
