"""Start the real gateway (`python -m app serve`) on a free port with a generated config file."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

from scripts.bench_procs import is_worker
from tests.fakes.server import free_port

__all__ = ["ROOT", "GatewayProcess", "start_gateway"]

ROOT = Path(__file__).resolve().parents[1]
ADMIN_KEY = "pr-admin-test-0123456789abcdefghij"
API_KEY = "sk-poly-test-0123456789abcdefghijkl"


@dataclass
class GatewayProcess:
    port: int
    proc: subprocess.Popen[bytes]
    log_path: Path
    data_dir: Path
    database_url: str
    api_key: str = API_KEY
    admin_key: str = ADMIN_KEY
    env: dict[str, str] = field(default_factory=dict)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def v1(self) -> str:
        return self.base_url + "/v1"

    def openai(self, key: str | None = None, **kwargs: Any) -> Any:
        import openai

        return openai.OpenAI(api_key=key or self.api_key, base_url=self.v1, max_retries=0, **kwargs)

    def async_openai(self, key: str | None = None, **kwargs: Any) -> Any:
        import openai

        return openai.AsyncOpenAI(api_key=key or self.api_key, base_url=self.v1, max_retries=0, **kwargs)

    def anthropic(self, key: str | None = None, **kwargs: Any) -> Any:
        import anthropic

        return anthropic.Anthropic(api_key=key or self.api_key, base_url=self.base_url, max_retries=0, **kwargs)

    def http(self, **kwargs: Any) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, timeout=30, **kwargs)

    def admin(self) -> httpx.Client:
        return self.http(headers={"Authorization": f"Bearer {self.admin_key}"})

    def logged(self, request_id: str, timeout: float = 5.0) -> dict[str, Any]:
        """One request as `GET /v1/requests/{id}` shows it, once the usage writer has flushed it."""
        deadline = time.monotonic() + timeout
        with self.admin() as admin:
            while (found := admin.get(f"/v1/requests/{request_id}")).status_code == 404:
                if time.monotonic() > deadline:
                    raise AssertionError(f"request {request_id} never reached the request log")
                time.sleep(0.1)
        assert found.status_code == 200, found.text
        record: dict[str, Any] = found.json()
        return record

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def alive(self) -> bool:
        return self.proc.poll() is None

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            # granian workers outlive a SIGKILLed parent: take them down with it, or they serve on as orphans.
            workers = self.children() if sig == signal.SIGKILL else []
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                workers = self.children()
                self.proc.kill()
                self.proc.wait(5)
            for pid in workers:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
        return int(self.proc.returncode)

    def children(self) -> list[int]:
        """The server's child processes (granian's or uvicorn's workers, multiprocessing helpers), from /proc."""
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == self.proc.pid:
                found.append(int(stat.parent.name))
        return found

    def worker_pids(self) -> list[int]:
        """The processes serving requests: the workers granian or uvicorn started, or, for uvicorn with
        one worker, the server process itself."""
        workers = []
        for pid in self.children():
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if is_worker(cmdline):
                workers.append(pid)
        if not workers and self.proc.poll() is None:  # granian always has workers once it answers
            return [self.proc.pid]
        return sorted(workers)


def start_gateway(
    tmp: Path,
    config: dict[str, Any] | None,
    *,
    env: dict[str, str] | None = None,
    database_url: str | None = None,
    port: int | None = None,
    ready_timeout: float = 60,  # a start takes 12-22 s on the shared two-core machine under load
    extra_args: list[str] | None = None,
    open_files: int | None = None,
) -> GatewayProcess:
    """`open_files` starts the server with that soft limit on open files (as a distribution's default would)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = port or free_port()
    data_dir = tmp / "data"
    data_dir.mkdir(exist_ok=True)
    database_url = database_url or f"sqlite:///{tmp / 'polyroute.db'}"
    args = [sys.executable, "-m", "app", "serve", "--port", str(port), "--host", "127.0.0.1"]
    if config is not None:
        config_path = tmp / "polyroute.yaml"
        config_path.write_text(yaml.safe_dump(config, sort_keys=False))
        args += ["--config", str(config_path)]
    args += extra_args or []
    full_env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": os.environ.get("HOME", "/root"),
        "POLYROUTE_DATABASE_URL": database_url,
        "POLYROUTE_DATA_DIR": str(data_dir),
        "POLYROUTE_ADMIN_KEY": ADMIN_KEY,
        "POLYROUTE_TEST_API_KEY": API_KEY,
        "POLYROUTE_USAGE_FLUSH_INTERVAL_S": "0.2",
        "POLYROUTE_CATALOG_POLL_S": "0.5",
        "POLYROUTE_DRAIN_TIMEOUT_S": "10",
        "PYTHONUNBUFFERED": "1",
        # `POLYROUTE_SERVER=uvicorn ./scripts/test` runs every test gateway under the other server.
        **{k: v for k, v in os.environ.items() if k == "POLYROUTE_SERVER"},
        **(env or {}),
    }
    log_path = tmp / f"gateway-{port}.log"
    log = log_path.open("wb")
    preexec = None
    if open_files is not None:

        def preexec() -> None:
            import resource

            resource.setrlimit(resource.RLIMIT_NOFILE, (open_files, resource.getrlimit(resource.RLIMIT_NOFILE)[1]))

    proc = subprocess.Popen(args, cwd=ROOT, env=full_env, stdout=log, stderr=subprocess.STDOUT, preexec_fn=preexec)
    gw = GatewayProcess(port, proc, log_path, data_dir, database_url, env=full_env)
    deadline = time.monotonic() + ready_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited with {proc.returncode}:\n{gw.log()}")
        try:
            if httpx.get(gw.base_url + "/readyz", timeout=1).status_code == 200:
                return gw
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    gw.stop(signal.SIGKILL)
    raise RuntimeError(f"gateway not ready after {ready_timeout}s:\n{gw.log()}")
