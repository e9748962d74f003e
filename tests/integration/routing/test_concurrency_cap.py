"""A provider's `max_concurrent`, end to end with the official SDK: a full provider hands the call to
the next candidate, the last candidate waits its turn, no free slot in time is a 503, and every way a
call ends gives its slot back."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

MODELS = [{"id": m} for m in ("gpt-fake", "fake-slow-700", "fake-slow-500", "fake-500", "held")]
HI = [{"role": "user", "content": "hi"}]


@pytest.fixture(scope="module")
def fake(fake_openai: FakeOpenAI) -> FakeOpenAI:
    return fake_openai


@pytest.fixture(scope="module")
def gw(tmp_path_factory: pytest.TempPathFactory, fake: FakeOpenAI) -> Iterator[GatewayProcess]:
    base = {"kind": "openai", "api_key": "sk-up", "probe_interval_s": 0, "base_url": fake.base_url + "/v1"}
    config = {
        "providers": [
            {**base, "name": "capped", "max_concurrent": 1, "models": MODELS},
            {**base, "name": "backup", "models": MODELS},
            # One slot, and a call waits for it at most its first-byte budget (timeout_s for a whole call).
            {**base, "name": "solo", "max_concurrent": 1, "timeout_s": 1.5, "models": MODELS},
        ],
        "routes": [
            {
                "name": "route/pair",
                "targets": [
                    {"provider": "capped", "model": "fake-slow-700", "priority": 0},
                    {"provider": "backup", "model": "fake-slow-700", "priority": 1},
                ],
            }
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    process = start_gateway(tmp_path_factory.mktemp("cap"), config)
    yield process
    process.stop()


def _served_by(gw: GatewayProcess, model: str, **headers: str) -> tuple[str, float]:
    began = time.monotonic()
    raw = gw.openai().chat.completions.with_raw_response.create(model=model, messages=HI, extra_headers=headers)
    return raw.headers["x-polyroute-provider"], time.monotonic() - began


def test_a_full_provider_hands_the_call_to_the_next_candidate(gw: GatewayProcess) -> None:
    with ThreadPoolExecutor(2) as pair:
        served = sorted(p for p, _ in pair.map(lambda _: _served_by(gw, "route/pair"), range(2)))
    assert served == ["backup", "capped"]
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="route/pair", messages=HI, extra_headers={"x-polyroute-explain": "1"}
    )
    assert raw.headers["x-polyroute-provider"] == "capped"  # its slot came back
    with ThreadPoolExecutor(2) as pair:
        calls = [pair.submit(_served_by, gw, "route/pair", **{"x-polyroute-explain": "1"}) for _ in range(2)]
        assert sorted(c.result()[0] for c in calls) == ["backup", "capped"]


def test_the_last_candidate_waits_its_turn(gw: GatewayProcess) -> None:
    with ThreadPoolExecutor(2) as pair:
        results = list(pair.map(lambda _: _served_by(gw, "solo/fake-slow-500"), range(2)))
    assert [p for p, _ in results] == ["solo", "solo"]
    assert max(t for _, t in results) >= 0.95  # one after the other: the second waited for the first


def test_no_slot_free_in_time_is_a_503_and_the_slot_returns_when_the_stream_ends(
    gw: GatewayProcess, fake: FakeOpenAI
) -> None:
    fake.script("held", {"chunks": 12, "chunk_delay_ms": 250})  # a stream holding the slot ~3 s
    client = gw.openai()
    stream = client.chat.completions.create(model="solo/held", messages=HI, stream=True)
    first = next(iter(stream))
    assert first.model == "solo/held"
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="solo/gpt-fake", messages=HI)
    error: Any = refused.value
    assert error.status_code == 503
    assert error.response.headers["x-error-code"] == "SERVICE_UNAVAILABLE"
    assert error.response.headers["retry-after"] == "1"
    assert "concurrency limit" in error.message and "all 1 of its concurrent calls" in error.message
    providers = {p["name"]: p for p in gw.admin().get("/v1/health/providers").json()["data"]}
    assert providers["solo"]["concurrency"] == {"max": 1, "in_use": 1, "waiting": 0}
    assert providers["backup"]["concurrency"] is None
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)  # the stream was unharmed
    answer = client.chat.completions.create(model="solo/gpt-fake", messages=HI)
    assert answer.choices[0].message.content


def test_errors_and_disconnects_give_their_slots_back(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    client = gw.openai()
    for _ in range(3):
        with pytest.raises(openai.APIStatusError) as failed:
            client.chat.completions.create(model="solo/fake-500", messages=HI)
        assert failed.value.status_code == 502
    fake.script("held", *[{"chunks": 40, "chunk_delay_ms": 100}] * 3)
    for _ in range(3):  # the caller walks away mid-stream
        with httpx.Client(base_url=gw.v1, headers={"authorization": f"Bearer {API_KEY}"}, timeout=10) as http:
            body = {"model": "solo/held", "messages": HI, "stream": True}
            with http.stream("POST", "/chat/completions", json=body) as resp:
                assert resp.status_code == 200
                next(resp.iter_bytes())

    def ask() -> tuple[int, str | None]:
        try:
            answer = client.chat.completions.create(model="solo/gpt-fake", messages=HI)
        except openai.APIStatusError as exc:
            return exc.status_code, None
        return 200, answer.choices[0].message.content

    # The gateway notices a hang-up at its next write (within a chunk's 100 ms): the slot is free from then.
    deadline = time.monotonic() + 5
    status, text = ask()
    while status == 503 and time.monotonic() < deadline:
        time.sleep(0.1)
        status, text = ask()
    assert status == 200 and text
    with ThreadPoolExecutor(2) as pair:  # and there is exactly one: two at once still take turns
        results = list(pair.map(lambda _: _served_by(gw, "solo/fake-slow-500"), range(2)))
    assert max(t for _, t in results) >= 0.95


def test_the_cap_is_set_and_checked_through_the_management_api(gw: GatewayProcess) -> None:
    admin = gw.admin()
    body = {"name": "api-capped", "kind": "openai", "base_url": "https://api.example.com/v1"}
    for bad, message in ((0, "Expected `int` >= 1"), ("2", "Expected `int | null`, got `str`"), (1.5, "")):
        resp = admin.post("/v1/configs", json={**body, "max_concurrent": bad})
        assert resp.status_code in (400, 422), resp.text
        assert resp.headers["content-type"] == "application/problem+json"
        assert "max_concurrent" in resp.text and message in resp.text
    created = admin.post("/v1/configs", json={**body, "max_concurrent": 4})
    assert created.status_code == 201, created.text
    assert created.json()["max_concurrent"] == 4
    patched = admin.patch("/v1/configs/api-capped", json={"max_concurrent": None})
    assert patched.status_code == 200 and patched.json()["max_concurrent"] is None
    assert admin.get("/v1/configs/capped").json()["max_concurrent"] == 1


def test_a_mixed_burst_leaves_no_slot_taken(gw: GatewayProcess, fake: FakeOpenAI) -> None:
    """Whole answers, streams, upstream errors and callers that leave, 24 at once against 1 slot plus a
    backup: afterwards nothing is in use and nobody is waiting."""
    client = gw.openai()

    def one(n: int) -> str:
        kind = n % 4
        try:
            if kind == 0:
                return client.chat.completions.create(model="route/pair", messages=HI).model
            if kind == 1:
                stream = client.chat.completions.create(model="solo/gpt-fake", messages=HI, stream=True)
                return "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            if kind == 2:
                client.chat.completions.create(model="solo/fake-500", messages=HI)
                return "unexpected"
            with httpx.Client(base_url=gw.v1, headers={"authorization": f"Bearer {API_KEY}"}, timeout=10) as http:
                body = {"model": "solo/gpt-fake", "messages": HI, "stream": True}
                with http.stream("POST", "/chat/completions", json=body) as resp:
                    return f"left after {resp.status_code}"
        except openai.APIStatusError as exc:
            return f"HTTP {exc.status_code}"

    with ThreadPoolExecutor(24) as burst:
        outcomes = list(burst.map(one, range(24)))
    allowed = [
        {"capped/fake-slow-700", "backup/fake-slow-700"},  # never refused: the backup has no cap
        {"HTTP 503"},  # or the stream's text
        {"HTTP 502", "HTTP 503"},
        {"left after 200", "left after 503"},
    ]
    for n, outcome in enumerate(outcomes):
        assert outcome in allowed[n % 4] or (n % 4 == 1 and outcome.startswith("Hello from gpt-fake")), outcomes
    assert {o.split("/")[0] for o in outcomes[::4]} == {"capped", "backup"}
    deadline = time.monotonic() + 5
    while True:
        providers = {p["name"]: p for p in gw.admin().get("/v1/health/providers").json()["data"]}
        taken = {n: providers[n]["concurrency"] for n in ("capped", "solo")}
        if all(c["in_use"] == 0 and c["waiting"] == 0 for c in taken.values()) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert taken == {"capped": {"max": 1, "in_use": 0, "waiting": 0}, "solo": {"max": 1, "in_use": 0, "waiting": 0}}
