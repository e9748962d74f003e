"""Files and batches through the openai SDK: native passthrough, emulated runs, errors, cancel, scoping."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.gateway_process import GatewayProcess
from tests.integration.batches.conftest import (
    BUDGET_KEY,
    MAX_BODY,
    OTHER_KEY,
    Upstreams,
    chat_line,
    jsonl,
    output_lines,
    upload,
    wait_for,
)


def test_native_batch_is_passed_through_to_openai(batch_gateway: GatewayProcess, upstreams: Upstreams) -> None:
    client = batch_gateway.openai()
    lines: list[Any] = [chat_line(f"req-{i}", "oai/gpt-fake", f"question {i}", max_tokens=20) for i in range(3)]
    lines.append("{not json")
    file = upload(client, jsonl(lines))
    assert file.purpose == "batch" and file.bytes == len(jsonl(lines)) and file.filename == "input.jsonl"
    batch = client.batches.create(
        input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h", metadata={"team": "a"}
    )
    assert batch.status == "validating" and batch.metadata == {"team": "a"}
    done, seen = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed", done
    assert "in_progress" in seen and done.model == "oai/gpt-fake"
    assert done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (4, 3, 1)
    out = output_lines(client, done.output_file_id)
    assert sorted(o["custom_id"] for o in out) == ["req-0", "req-1", "req-2"]
    for line in out:
        body = line["response"]["body"]
        assert line["response"]["status_code"] == 200 and body["model"] == "oai/gpt-fake"
        assert body["choices"][0]["message"]["content"].endswith(f"question {line['custom_id'][4:]}")
    errors = output_lines(client, done.error_file_id)
    assert len(errors) == 1 and errors[0]["response"] is None and "not valid JSON" in errors[0]["error"]["message"]
    # The provider saw its own model name, its own ids, and our batch in the metadata.
    uploaded = [f for f in upstreams.oai.audio_batches.files.values() if f["object"]["purpose"] == "batch"][-1]
    sent = [json.loads(x) for x in uploaded["content"].splitlines()]
    assert [s["body"]["model"] for s in sent] == ["gpt-fake"] * 3 and sent[0]["body"]["max_tokens"] == 20
    created = upstreams.oai.requests_for("/v1/batches")[-1].json()
    assert created["metadata"] == {"polyroute_batch": batch.id} and created["input_file_id"] != file.id
    assert not upstreams.oai.requests_for("/v1/chat/completions")  # nothing ran line by line
    # Each answer is a usage row priced at OpenAI's batch price: half the model's (1.0 / 2.0 per M tokens).
    with batch_gateway.admin() as admin:
        deadline = time.monotonic() + 10
        while True:
            rows = [
                r
                for r in admin.get("/v1/requests", params={"limit": 200}).json()["data"]
                if r["endpoint"] == "batch.chat.completions"
            ]
            if len(rows) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.1)
    assert len(rows) >= 3
    for row in rows:
        direct = (row["prompt_tokens"] * 1.0 + row["completion_tokens"] * 2.0) / 1e6
        assert row["cost_usd"] == pytest.approx(direct * 0.5) and row["cost_usd"] > 0


def test_native_batch_spend_counts_against_the_budget(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.openai(BUDGET_KEY)
    ask = {"model": "oai/gpt-fake", "messages": [{"role": "user", "content": "hi"}]}
    lines = [chat_line(f"b{i}", "oai/gpt-fake", f"question {i}", max_tokens=20) for i in range(3)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed", done
    # The upstream ran the lines, not us: their tokens and cost still count against the key's
    # $0.000001 budget once the output is in, so its very first call afterwards is refused (a call
    # that got through would spend too, so only the first one proves anything).
    time.sleep(0.5)  # the settle runs in the background right after the output is read
    with httpx.Client(base_url=batch_gateway.base_url, headers={"Authorization": f"Bearer {BUDGET_KEY}"}) as http:
        after = http.post("/v1/chat/completions", json=ask)
    assert after.status_code == 429, after.text
    assert after.headers["x-error-code"] == "BUDGET_EXCEEDED"


def test_batch_on_anthropic_runs_on_the_task_runner(batch_gateway: GatewayProcess, upstreams: Upstreams) -> None:
    client = batch_gateway.openai()
    lines = [chat_line(f"c{i}", "claude/claude-fake", f"hello {i}", max_tokens=50) for i in range(5)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.model is None
    assert done.request_counts is not None and done.request_counts.completed == 5
    out = output_lines(client, done.output_file_id)
    assert [o["custom_id"] for o in out] == [f"c{i}" for i in range(5)]
    for i, line in enumerate(out):
        body = line["response"]["body"]
        assert body["object"] == "chat.completion" and body["model"] == "claude/claude-fake"
        assert f"hello {i}" in body["choices"][0]["message"]["content"]
        assert line["id"].startswith("batch_req_") and line["response"]["request_id"].startswith("task_")
    assert done.error_file_id is None
    assert len(upstreams.claude.requests_for("/v1/messages")) >= 5
    tasks = batch_gateway.http(headers={"Authorization": f"Bearer {batch_gateway.api_key}"}).get("/v1/tasks")
    assert not [t for t in tasks.json()["data"] if t["status"] in ("succeeded", "failed")]  # harvested and removed


def test_emulated_batch_per_line_errors(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.openai()
    lines: list[Any] = [
        chat_line("ok-route", "route/spread"),
        chat_line("ok-compat", "compat/gpt-fake"),
        chat_line("unknown-model", "nope/nothing"),
        chat_line("upstream-500", "compat/fake-500"),
        {"custom_id": "wrong-url", "method": "POST", "url": "/v1/embeddings", "body": {"model": "oai/gpt-fake"}},
        {"method": "POST", "url": "/v1/chat/completions", "body": {"model": "oai/gpt-fake"}},
        chat_line("ok-route", "route/spread"),
        chat_line("no-messages", "compat/gpt-fake") | {"body": {"model": "compat/gpt-fake"}},
        "[1, 2]",
    ]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts is not None
    assert (done.request_counts.total, done.request_counts.completed, done.request_counts.failed) == (9, 2, 7)
    out = {o["custom_id"]: o for o in output_lines(client, done.output_file_id)}
    assert set(out) == {"ok-route", "ok-compat"}
    assert out["ok-compat"]["response"]["body"]["model"] == "compat/gpt-fake"
    errors = output_lines(client, done.error_file_id)
    by_id = {e["custom_id"]: e for e in errors}
    assert by_id["unknown-model"]["response"]["status_code"] == 400
    assert by_id["unknown-model"]["response"]["body"]["error"]["code"] == "INVALID_MODEL"
    assert by_id["upstream-500"]["response"]["status_code"] == 502
    assert by_id["no-messages"]["response"]["status_code"] == 400
    assert "'url' must be the batch's endpoint" in by_id["wrong-url"]["error"]["message"]
    messages = [e["error"]["message"] for e in errors if e["response"] is None]
    assert any("'custom_id' must be a non-empty string" in m for m in messages)
    assert any("used by an earlier line" in m for m in messages)
    assert any("must be a JSON object" in m for m in messages)


def test_cancel_an_emulated_batch(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.openai()
    lines = [chat_line(f"slow-{i}", "compat/fake-slow-300") for i in range(12)]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    wait_for(client, batch.id, ("in_progress",))
    deadline = time.monotonic() + 10
    while client.batches.retrieve(batch.id).request_counts.completed < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    cancelling = client.batches.cancel(batch.id)
    assert cancelling.status in ("cancelling", "cancelled") and cancelling.cancelling_at is not None
    done, _ = wait_for(client, batch.id, ("cancelled",))
    assert done.request_counts is not None and 2 <= done.request_counts.completed < 12
    out = output_lines(client, done.output_file_id)
    assert len(out) == done.request_counts.completed and all(o["custom_id"].startswith("slow-") for o in out)
    with pytest.raises(openai.ConflictError):
        client.batches.cancel(batch.id)


def test_objects_belong_to_the_key_that_made_them(batch_gateway: GatewayProcess) -> None:
    client, other = batch_gateway.openai(), batch_gateway.openai(OTHER_KEY)
    file = upload(client, jsonl([chat_line("a", "compat/gpt-fake")]))
    batch = client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h")
    for call in (
        lambda: other.files.retrieve(file.id),
        lambda: other.files.content(file.id),
        lambda: other.files.delete(file.id),
        lambda: other.batches.retrieve(batch.id),
        lambda: other.batches.cancel(batch.id),
        lambda: other.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h"),
    ):
        with pytest.raises(openai.NotFoundError):
            call()
    assert batch.id not in [b.id for b in other.batches.list()]
    assert file.id not in [f.id for f in other.files.list()]
    assert batch.id in [b.id for b in client.batches.list(limit=2)]  # the SDK pages through
    wait_for(client, batch.id, ("completed",))
    assert client.files.delete(file.id).deleted
    with pytest.raises(openai.NotFoundError):
        client.files.retrieve(file.id)


def test_embeddings_batch_native(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.openai()
    line = {"custom_id": "e", "method": "POST", "url": "/v1/embeddings", "body": {"model": "oai/text-embedding-fake"}}
    line["body"]["input"] = "hello"
    batch = client.batches.create(
        input_file_id=upload(client, jsonl([line])).id, endpoint="/v1/embeddings", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.model == "oai/text-embedding-fake"
    assert output_lines(client, done.output_file_id)[0]["response"]["body"]["model"] == "oai/text-embedding-fake"


def _http(gw: GatewayProcess, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gw.api_key}", **kwargs.pop("headers", {})}
    return httpx.request(method, gw.v1 + path, headers=headers, timeout=10, **kwargs)


def test_bad_input(batch_gateway: GatewayProcess) -> None:
    gw = batch_gateway
    client = gw.openai()
    form = {"Content-Type": "multipart/form-data; boundary=b0"}
    cut = b'--b0\r\nContent-Disposition: form-data; name="purpose"\r\n\r\nbat'
    cases = [
        ({"content": cut, "headers": form}, 400, "Malformed multipart"),
        ({"data": {"purpose": "batch"}}, 400, "Expected a multipart/form-data body"),
        ({"data": {"purpose": "batch"}, "files": {"other": ("a.jsonl", b"{}")}}, 400, "Missing required field 'file'"),
        ({"data": {"purpose": "fine-tune"}, "files": {"file": ("a.jsonl", b"{}")}}, 400, "'purpose' must be one of"),
        ({"data": {"purpose": "batch"}, "files": {"file": ("a.jsonl", b"")}}, 400, "is empty"),
        ({"data": {"purpose": "batch"}, "files": {"file": ("a.jsonl", b"x" * (MAX_BODY + 10))}}, 413, "exceeds"),
    ]
    for kwargs, status, needle in cases:
        resp = _http(gw, "POST", "/files", **kwargs)
        assert resp.status_code == status and needle in resp.json()["detail"], resp.text
    file = upload(client, jsonl([chat_line("a", "compat/gpt-fake")]))
    with pytest.raises(openai.BadRequestError, match="'endpoint' must be one of"):
        client.batches.create(input_file_id=file.id, endpoint="/v1/moderations", completion_window="24h")  # type: ignore[arg-type]
    with pytest.raises(openai.BadRequestError, match="completion_window"):
        client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="1h")  # type: ignore[arg-type]
    with pytest.raises(openai.NotFoundError):
        client.batches.create(input_file_id="file-nope", endpoint="/v1/chat/completions", completion_window="24h")
    resp = _http(gw, "POST", "/batches", json={"endpoint": "/v1/chat/completions"})
    assert resp.status_code == 400 and "input_file_id" in resp.json()["detail"]
    blank = client.batches.create(
        input_file_id=upload(client, b"\n\n").id, endpoint="/v1/chat/completions", completion_window="24h"
    )
    failed, _ = wait_for(client, blank.id, ("failed",))
    assert failed.errors is not None and failed.errors.data and "no request lines" in str(failed.errors.data[0].message)
    done, _ = wait_for(
        client,
        client.batches.create(input_file_id=file.id, endpoint="/v1/chat/completions", completion_window="24h").id,
        ("completed",),
    )
    with pytest.raises(openai.BadRequestError, match="purpose must be 'batch'"):
        client.batches.create(
            input_file_id=done.output_file_id or "", endpoint="/v1/chat/completions", completion_window="24h"
        )


def test_cancel_a_native_batch(batch_gateway: GatewayProcess, upstreams: Upstreams) -> None:
    client = batch_gateway.openai()
    upstreams.oai.audio_batches.line_delay_s = 0.3
    try:
        lines = [chat_line(f"n{i}", "oai/gpt-fake") for i in range(10)]
        batch = client.batches.create(
            input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/chat/completions", completion_window="24h"
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            counts = client.batches.retrieve(batch.id).request_counts
            if counts is not None and counts.completed >= 1:
                break
            time.sleep(0.05)
        assert client.batches.cancel(batch.id).status == "cancelling"
        done, _ = wait_for(client, batch.id, ("cancelled", "completed"))
    finally:
        upstreams.oai.audio_batches.line_delay_s = 0.05
    assert done.status == "cancelled" and done.request_counts is not None
    assert 1 <= done.request_counts.completed < 10
    out = output_lines(client, done.output_file_id)
    assert len(out) == done.request_counts.completed and all(
        o["response"]["body"]["model"] == "oai/gpt-fake" for o in out
    )
    assert upstreams.oai.requests_for("/cancel")


def test_a_completions_batch_runs_line_by_line_on_any_upstream(batch_gateway: GatewayProcess) -> None:
    client = batch_gateway.openai()
    lines = [
        {
            "custom_id": f"c-{model}",
            "method": "POST",
            "url": "/v1/completions",
            "body": {"model": model, "prompt": "Write a haiku", "max_tokens": 30},
        }
        for model in ("compat/gpt-fake", "claude/claude-fake")
    ]
    batch = client.batches.create(
        input_file_id=upload(client, jsonl(lines)).id, endpoint="/v1/completions", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed" and done.request_counts is not None and done.request_counts.completed == 2
    bodies = {o["custom_id"]: o["response"]["body"] for o in output_lines(client, done.output_file_id)}
    assert bodies["c-compat/gpt-fake"]["choices"][0]["text"] == " continues Write a haiku"
    assert bodies["c-claude/claude-fake"]["object"] == "text_completion"
    assert bodies["c-claude/claude-fake"]["choices"][0]["text"]


def test_a_completions_batch_for_an_openai_chat_model_is_not_handed_to_openai(
    batch_gateway: GatewayProcess, upstreams: Upstreams
) -> None:
    client = batch_gateway.openai()
    before = len(upstreams.oai.requests_for("/v1/batches"))
    body = {"model": "oai/gpt-fake", "prompt": "Count to three"}
    line = {"custom_id": "only", "method": "POST", "url": "/v1/completions", "body": body}
    batch = client.batches.create(
        input_file_id=upload(client, jsonl([line])).id, endpoint="/v1/completions", completion_window="24h"
    )
    done, _ = wait_for(client, batch.id, ("completed", "failed"))
    assert done.status == "completed"
    [out] = output_lines(client, done.output_file_id)
    assert out["response"]["body"]["choices"][0]["text"] == "Hello from gpt-fake. You said: Count to three"
    assert len(upstreams.oai.requests_for("/v1/batches")) == before  # OpenAI serves no completions for it
