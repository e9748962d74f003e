"""Start-up with a bad config file, and SIGTERM draining in-flight streams."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import base_config
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import ROOT, start_gateway


def _serve_with(tmp_path: Path, text: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    return subprocess.run(
        [sys.executable, "-m", "app", "serve", "--config", str(config), "--port", "1"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env={
            "PATH": "/usr/bin:/bin",
            "POLYROUTE_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}",
            "POLYROUTE_DATA_DIR": str(tmp_path),
            **(env or {}),
        },
    )


@pytest.mark.parametrize(
    ("text", "where", "what"),
    [
        (
            "providers:\n  - name: a\n    kind: openai\n    base_url: http://x/v1\n    timeout_s: soon\n",
            "$.providers[0].timeout_s",
            "Expected `float`",
        ),
        ("providers:\n  - name: a\n    kind: teleport\n", "$.providers[0].kind", "Invalid enum value 'teleport'"),
        (
            "routes:\n  - name: r\n    targets: [{provider: ghost, model: m}]\n",
            "$.routes[0].targets[0].provider",
            "unknown provider 'ghost'",
        ),
        (
            "providers:\n  - {name: gh, kind: mcp, base_url: http://x/mcp}\n"
            "routes:\n  - name: r\n    targets: [{provider: gh, model: search}]\n",
            "$.routes[0].targets[0].provider",
            "'gh' is an MCP server, not a model",
        ),
        (
            "prompts:\n  - {name: p, model: nowhere/m, messages: [{role: user, content: hi}]}\n",
            "$.prompts[0].model",
            "unknown model 'nowhere/m'",
        ),
        ("providers: [\n", "line", "not valid YAML"),
        (
            "providers:\n  - name: a\n    kind: openai\n    base_url: http://x/v1\n    api_key: ${NOPE_NOT_SET}\n",
            "$.providers[0].api_key",
            "environment variable NOPE_NOT_SET is not set",
        ),
        ("plans:\n  - {name: p, colour: blue}\n", "$.plans[0]", "unknown field `colour`"),
    ],
)
def test_invalid_config_fails_with_file_path_and_reason(tmp_path: Path, text: str, where: str, what: str) -> None:
    result = _serve_with(tmp_path, text)
    assert result.returncode == 2
    message = result.stderr.strip()
    assert str(tmp_path / "bad.yaml") in message
    assert where in message and what in message
    assert "Traceback" not in result.stderr + result.stdout


def test_a_database_that_cannot_be_reached_is_named_with_the_reason(tmp_path: Path) -> None:
    url = "postgresql://nobody@127.0.0.1:1/none"
    result = _serve_with(tmp_path, "{}\n", env={"POLYROUTE_DATABASE_URL": url})
    assert result.returncode == 1
    assert f"polyroute: cannot prepare the database at {url}: " in result.stderr
    assert "Connect call failed" in result.stderr
    assert "Traceback" not in result.stderr + result.stdout


def test_one_uvicorn_worker_serves_from_one_process_with_no_helper_beside_it(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """The start-up's database preparation runs in a plain child process that exits: multiprocessing's
    spawn used to leave its resource tracker (11 MB) beside the server for its whole life."""
    gw = start_gateway(tmp_path, base_config(fake_openai, fake_openai))
    try:
        gw.openai().chat.completions.create(model="fakeai/gpt-fake", messages=[{"role": "user", "content": "x"}])
        assert gw.worker_pids() == [gw.proc.pid]
        assert gw.children() == []
    finally:
        assert gw.stop() == 0


def test_config_env_expansion_and_idempotent_reapply(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    config = base_config(fake_openai, fake_openai)
    config["providers"][0]["api_key"] = "${FAKE_UPSTREAM_KEY}"
    for _ in range(2):  # applying the same file twice is a no-op apart from the version
        gw = start_gateway(tmp_path, config, env={"FAKE_UPSTREAM_KEY": "sk-from-env-123456"})
        try:
            fake_openai.reset()
            gw.openai().chat.completions.create(model="fakeai/gpt-fake", messages=[{"role": "user", "content": "x"}])
            assert fake_openai.received[-1].headers["Authorization"] == "Bearer sk-from-env-123456"
        finally:
            assert gw.stop() == 0


@pytest.mark.parametrize(
    ("server", "loop", "runs_on"),
    [("granian", "auto", "uvloop"), ("uvicorn", "auto", "asyncio"), ("uvicorn", "uvloop", "uvloop")],
)
def test_sigterm_lets_in_flight_streams_finish(
    tmp_path: Path, fake_openai: FakeOpenAI, server: str, loop: str, runs_on: str
) -> None:
    """Under either HTTP server (`POLYROUTE_SERVER`) and the loop `POLYROUTE_LOOP` picks: it serves,
    and SIGTERM drains before exiting."""
    env = {"POLYROUTE_SERVER": server, "POLYROUTE_LOOP": loop}
    gw = start_gateway(tmp_path, base_config(fake_openai, fake_openai), env=env)
    try:
        assert f"server: {server}" in gw.log()
        assert httpx.get(gw.base_url + "/readyz", timeout=5).json()["loop"] == runs_on
        fake_openai.reset()
        hi = [{"role": "user", "content": "hi"}]
        answer = gw.openai().chat.completions.create(model="fakeai/gpt-fake", messages=hi)
        assert answer.choices[0].message.content and answer.usage is not None
        fake_openai.script("gpt-fake", {"chunks": 12, "chunk_delay_ms": 150})
        lines: list[str] = []
        started = threading.Event()

        def consume() -> None:
            with (
                httpx.Client(timeout=30) as http,
                http.stream(
                    "POST",
                    gw.v1 + "/chat/completions",
                    json={"model": "fakeai/gpt-fake", "stream": True, "messages": [{"role": "user", "content": "d"}]},
                    headers={"Authorization": f"Bearer {gw.api_key}"},
                ) as resp,
            ):
                for line in resp.iter_lines():
                    if line:
                        lines.append(line)
                        started.set()

        reader = threading.Thread(target=consume)
        reader.start()
        assert started.wait(10)
        gw.proc.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        with pytest.raises(httpx.HTTPError):
            httpx.get(gw.base_url + "/healthz", timeout=2)  # no longer accepting
        reader.join(30)
        assert lines[-1] == "data: [DONE]"
        assert len([line for line in lines if '"content"' in line]) >= 12
        assert gw.proc.wait(30) == 0
    finally:
        if gw.proc.poll() is None:  # a failed assertion above must not leave it running
            gw.stop(signal.SIGKILL)


def _open_files_limit(pid: int) -> tuple[int, int]:
    line = next(x for x in Path(f"/proc/{pid}/limits").read_text().splitlines() if x.startswith("Max open files"))
    soft, hard = line.split()[3:5]
    return int(soft), int(hard)


@pytest.mark.parametrize("server", ["uvicorn", "granian"])
def test_a_low_open_files_limit_is_lifted_so_hundreds_of_calls_fit(
    tmp_path: Path, fake_openai: FakeOpenAI, server: str
) -> None:
    """Started with a soft limit of 256 open files (as a service manager might), the server raises it to
    the hard limit: 300 calls held open at once need ~600 sockets, and every one is answered."""
    gw = start_gateway(
        tmp_path, base_config(fake_openai, fake_openai), env={"POLYROUTE_SERVER": server}, open_files=256
    )
    try:
        for pid in gw.worker_pids():
            soft, hard = _open_files_limit(pid)
            assert soft == hard > 256, (pid, soft, hard)

        async def burst() -> list[int]:
            limits = httpx.Limits(max_connections=400)
            async with httpx.AsyncClient(timeout=60, limits=limits) as http:
                body = {"model": "fakeai/fake-slow-300", "messages": [{"role": "user", "content": "hold"}]}
                headers = {"Authorization": f"Bearer {gw.api_key}"}
                calls = [http.post(gw.v1 + "/chat/completions", json=body, headers=headers) for _ in range(300)]
                return [r.status_code for r in await asyncio.gather(*calls)]

        assert asyncio.run(burst()) == [200] * 300
    finally:
        gw.stop()
