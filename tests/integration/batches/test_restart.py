"""A restart resumes unfinished batches from the database: emulated lines and a provider's batch alike."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.db_backends import BACKENDS, database_url
from tests.gateway_process import start_gateway
from tests.integration.batches.conftest import (
    ENV,
    Upstreams,
    batch_config,
    chat_line,
    jsonl,
    output_lines,
    upload,
    wait_for,
)


@pytest.mark.parametrize("backend", BACKENDS)
def test_restart_resumes_batches(backend: str, tmp_path: Path, upstreams: Upstreams) -> None:
    env = {**ENV, "POLYROUTE_BATCH_CONCURRENCY": "1"}
    upstreams.oai.audio_batches.line_delay_s = 0.3
    try:
        with database_url(backend, tmp_path) as url:
            first = start_gateway(tmp_path / "a", batch_config(upstreams), env=env, database_url=url)
            try:
                client = first.openai()
                slow = [chat_line(f"s{i}", "compat/fake-slow-300", f"line {i}") for i in range(6)]
                emulated = client.batches.create(
                    input_file_id=upload(client, jsonl(slow)).id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
                native_lines = [chat_line(f"n{i}", "oai/gpt-fake") for i in range(6)]
                native = client.batches.create(
                    input_file_id=upload(client, jsonl(native_lines)).id,
                    endpoint="/v1/chat/completions",
                    completion_window="24h",
                )
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    counts = client.batches.retrieve(emulated.id).request_counts
                    if counts is not None and counts.completed >= 2:
                        break
                    time.sleep(0.05)
                assert client.batches.retrieve(native.id).status == "in_progress"
            finally:
                assert first.stop() == 0
            second = start_gateway(tmp_path / "b", batch_config(upstreams), env=env, database_url=url)
            try:
                client = second.openai()
                done, _ = wait_for(client, emulated.id, ("completed", "failed"), timeout=20)
                assert done.status == "completed" and done.request_counts is not None
                assert done.request_counts.completed == 6
                out = output_lines(client, done.output_file_id)
                assert sorted(o["custom_id"] for o in out) == [f"s{i}" for i in range(6)]
                finished, _ = wait_for(client, native.id, ("completed", "failed"), timeout=20)
                assert finished.status == "completed"
                assert sorted(o["custom_id"] for o in output_lines(client, finished.output_file_id)) == [
                    f"n{i}" for i in range(6)
                ]
            finally:
                second.stop()
    finally:
        upstreams.oai.audio_batches.line_delay_s = 0.05
