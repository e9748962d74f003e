"""Anthropic's Message Batches through the anthropic SDK (`client.messages.batches`), on the batch runner."""

from __future__ import annotations

import time
from typing import Any

import anthropic
import httpx
import pytest

from tests.gateway_process import API_KEY, GatewayProcess
from tests.integration.batches.conftest import MAX_BODY, OTHER_KEY, Upstreams

ASK = [{"role": "user", "content": "hello"}]


def request(custom_id: str, model: str, **params: Any) -> dict[str, Any]:
    return {"custom_id": custom_id, "params": {"model": model, "max_tokens": 20, "messages": ASK, **params}}


def wait_ended(client: anthropic.Anthropic, batch_id: str, timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = client.messages.batches.retrieve(batch_id)
        if batch.processing_status == "ended":
            return batch
        time.sleep(0.05)
    raise AssertionError(f"message batch {batch_id} did not end")


def test_a_message_batch_runs_every_request_and_returns_results(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.anthropic()
    created = client.messages.batches.create(
        requests=[  # type: ignore[list-item]
            request("claude-1", "claude/claude-fake"),
            request("claude-2", "claude/claude-fake", system="be brief"),
            request("translated", "compat/gpt-fake"),  # an OpenAI-compatible upstream, answered as Anthropic
            request("upstream-down", "compat/fake-500"),
            request("unknown", "nowhere/none"),
        ]
    )
    assert created.type == "message_batch" and created.id.startswith("msgbatch_")
    assert created.processing_status == "in_progress" and created.results_url is None
    assert created.request_counts.processing == 5
    ended = wait_ended(client, created.id)
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.canceled, counts.expired, counts.processing) == (3, 2, 0, 0, 0)
    assert ended.ended_at is not None and ended.results_url == (
        f"{batch_gateway.base_url}/v1/messages/batches/{created.id}/results"
    )
    results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    assert set(results) == {"claude-1", "claude-2", "translated", "upstream-down", "unknown"}
    for name in ("claude-1", "claude-2", "translated"):
        answer = results[name]
        assert answer.type == "succeeded" and answer.message.type == "message"
        assert answer.message.content[0].type == "text" and answer.message.content[0].text
    assert results["claude-1"].message.model == "claude/claude-fake"
    assert results["translated"].message.model == "compat/gpt-fake"
    down, unknown = results["upstream-down"], results["unknown"]
    assert down.type == "errored" and down.error.error.type == "api_error"
    assert unknown.type == "errored" and unknown.error.error.type == "invalid_request_error"
    assert "nowhere/none" in unknown.error.error.message
    with batch_gateway.admin() as admin:  # each request is a call of its own in the request log
        log = admin.get("/v1/requests", params={"model": "claude-fake", "limit": 100}).json()["data"]
    assert sum(1 for r in log if r["endpoint"] == "messages" and r["status"] == 200) >= 2


def test_list_pages_newest_first_and_stays_apart_from_openai_batches(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.anthropic(OTHER_KEY)
    made = [client.messages.batches.create(requests=[request(f"r{i}", "claude/claude-fake")]).id for i in range(3)]  # type: ignore[list-item]
    first = client.messages.batches.list(limit=2)
    assert [b.id for b in first.data] == made[:0:-1] and first.has_more
    every = [b.id for b in client.messages.batches.list(limit=2)]  # the SDK follows has_more / last_id
    assert every[:3] == made[::-1]
    newer = client.messages.batches.list(limit=5, before_id=made[0])
    assert [b.id for b in newer.data] == made[:0:-1]
    openai_batches = batch_gateway.openai(OTHER_KEY).batches.list()
    assert not any(b.id.startswith("msgbatch_") for b in openai_batches.data)
    with pytest.raises(anthropic.NotFoundError):  # another key's batch is not there
        batch_gateway.anthropic().messages.batches.retrieve(made[0])
    for batch_id in made:
        wait_ended(client, batch_id)


def test_cancel_then_delete(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.anthropic()
    created = client.messages.batches.create(
        requests=[request(f"slow-{i}", "compat/fake-slow-300") for i in range(12)]  # type: ignore[list-item]
    )
    with pytest.raises(anthropic.ConflictError):  # only an ended batch can be deleted
        client.messages.batches.delete(created.id)
    deadline = time.monotonic() + 10
    while client.messages.batches.retrieve(created.id).request_counts.succeeded < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelling = client.messages.batches.cancel(created.id)
    assert cancelling.processing_status in ("canceling", "ended") and cancelling.cancel_initiated_at is not None
    ended = wait_ended(client, created.id)
    counts = ended.request_counts
    assert counts.succeeded >= 2 and counts.canceled > 0 and counts.succeeded + counts.canceled == 12
    kinds = [r.result.type for r in client.messages.batches.results(created.id)]
    assert kinds.count("succeeded") == counts.succeeded and kinds.count("canceled") == counts.canceled
    assert client.messages.batches.cancel(created.id).processing_status == "ended"  # cancelling an ended batch: as is
    leftovers = {f.id for f in batch_gateway.openai().files.list() if f.filename.startswith(created.id)}
    deleted = client.messages.batches.delete(created.id)
    assert (deleted.id, deleted.type) == (created.id, "message_batch_deleted")
    remaining = {f.id for f in batch_gateway.openai().files.list()}
    assert leftovers and not leftovers & remaining  # its files went with it
    with pytest.raises(anthropic.NotFoundError):
        client.messages.batches.retrieve(created.id)


BAD: list[tuple[str, Any]] = [
    ("no requests", {}),
    ("empty", {"requests": []}),
    ("not a list", {"requests": "many"}),
    ("not objects", {"requests": [7]}),
    ("no custom id", {"requests": [{"params": {}}]}),
    ("bad custom id", {"requests": [{"custom_id": "has space", "params": {}}]}),
    ("long custom id", {"requests": [{"custom_id": "x" * 65, "params": {}}]}),
    ("twice", {"requests": [request("same", "claude/claude-fake"), request("same", "claude/claude-fake")]}),
    ("params not an object", {"requests": [{"custom_id": "a", "params": []}]}),
    ("streaming", {"requests": [request("a", "claude/claude-fake", stream=True)]}),
    ("not an object", [1, 2]),
]


@pytest.mark.parametrize(("name", "body"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_an_anthropic_400(batch_gateway: GatewayProcess, name: str, body: Any) -> None:
    with pytest.raises(anthropic.BadRequestError) as refused:
        batch_gateway.anthropic().post("/v1/messages/batches", body=body, cast_to=httpx.Response)
    assert refused.value.body["error"]["type"] == "invalid_request_error", name  # type: ignore[index]


def test_malformed_oversized_unauthenticated_and_unfinished(batch_gateway: GatewayProcess) -> None:
    headers = {"x-api-key": API_KEY, "anthropic-version": "2023-06-01", "content-type": "application/json"}
    with batch_gateway.http(headers=headers) as http:
        broken = http.post("/v1/messages/batches", content=b'{"requests": [')
        assert broken.status_code == 400 and broken.headers["x-error-code"] == "INVALID_REQUEST"
        assert broken.json()["error"]["type"] == "invalid_request_error"
        huge = http.post("/v1/messages/batches", content=b'{"requests": ["' + b"x" * MAX_BODY + b'"]}')
        assert huge.status_code == 413 and huge.json()["error"]["type"] == "request_too_large"
        nobody = http.get("/v1/messages/batches", headers={"x-api-key": "sk-poly-not-a-key-000000000000"})
        assert nobody.status_code == 401 and nobody.json()["error"]["type"] == "authentication_error"
        assert http.get("/v1/messages/batches", params={"limit": 0}).status_code == 400
        created = http.post("/v1/messages/batches", json={"requests": [request("s", "compat/fake-slow-300")]})
        batch_id = created.json()["id"]
        early = http.get(f"/v1/messages/batches/{batch_id}/results")
        assert early.status_code == 404 and early.json()["error"]["type"] == "not_found_error"
        assert http.get("/v1/messages/batches/msgbatch_nope").status_code == 404
    wait_ended(batch_gateway.anthropic(), batch_id)


def test_a_message_batch_for_one_anthropic_model_goes_to_anthropics_batch_api(
    batch_gateway: GatewayProcess, upstreams: Upstreams
) -> None:
    """Every request on one Anthropic model: one batch at the provider (its batch price), the results
    read back with our model names, each answer accounted; a request we refuse never leaves."""
    client = batch_gateway.anthropic()
    created = client.messages.batches.create(
        requests=[  # type: ignore[list-item]
            request("one", "claude/claude-fake"),
            request("two", "claude/claude-fake", stream=False, system="be brief"),
            request("empty", "claude/claude-fake", messages=[{"role": "user", "content": ""}]),  # Anthropic refuses
            {"custom_id": "no-max", "params": {"model": "claude/claude-fake", "messages": ASK}},  # we refuse it
        ]
    )
    ended = wait_ended(client, created.id)
    counts = ended.request_counts
    assert (counts.succeeded, counts.errored, counts.canceled) == (2, 2, 0)
    sent = [b for b in upstreams.claude.batches.values() if {r["custom_id"] for r in b["requests"]} >= {"one", "two"}]
    assert len(sent) == 1
    assert [r["custom_id"] for r in sent[0]["requests"]] == ["one", "two", "empty"]
    assert {r["params"]["model"] for r in sent[0]["requests"]} == {"claude-fake"}
    assert all("stream" not in r["params"] for r in sent[0]["requests"])
    results = {r.custom_id: r.result for r in client.messages.batches.results(created.id)}
    assert results["one"].type == "succeeded" and results["one"].message.model == "claude/claude-fake"
    assert results["one"].message.content[0].text  # type: ignore[union-attr]
    assert results["empty"].type == "errored" and results["empty"].error.error.type == "invalid_request_error"
    assert results["no-max"].type == "errored" and "max_tokens" in results["no-max"].error.error.message
    with batch_gateway.admin() as admin:

        def accounted() -> list[dict[str, Any]]:
            rows = admin.get("/v1/requests", params={"limit": 200}).json()["data"]
            return [r for r in rows if r["endpoint"] == "batch.messages" and r["status"] == 200]

        deadline = time.monotonic() + 10
        while len(accounted()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        rows = accounted()
    assert len(rows) >= 2 and all(r["model"] == "claude-fake" and r["prompt_tokens"] > 0 for r in rows)
    for row in rows:  # priced at the provider's batch_cost_factor (0.25 here) of the model's prices
        direct = (row["prompt_tokens"] * 3.0 + row["completion_tokens"] * 15.0) / 1e6
        assert row["cost_usd"] == pytest.approx(direct * 0.25) and row["cost_usd"] > 0


def test_cancelling_a_message_batch_cancels_it_at_anthropic(
    batch_gateway: GatewayProcess, upstreams: Upstreams
) -> None:
    client = batch_gateway.anthropic()
    created = client.messages.batches.create(
        requests=[request(f"many-{i}", "claude/claude-fake") for i in range(60)]  # type: ignore[list-item]
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any(
        b["cancel_at"] is None and b["results"] and b["requests"][0]["custom_id"] == "many-0"
        for b in upstreams.claude.batches.values()
    ):
        time.sleep(0.05)
    client.messages.batches.cancel(created.id)
    ended = wait_ended(client, created.id)
    counts = ended.request_counts
    assert counts.canceled > 0 and counts.succeeded + counts.canceled == 60
    assert any(b["cancel_at"] is not None for b in upstreams.claude.batches.values())
    kinds = [r.result.type for r in client.messages.batches.results(created.id)]
    assert kinds.count("canceled") == counts.canceled
