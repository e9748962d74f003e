"""Redis for tests: the shared server (skip with a message locally, mandatory under CI=true), and
private `redis-server` processes that a test may kill and restart (never the shared one)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.fakes.server import free_port

__all__ = ["SHARED_REDIS_URL", "PrivateRedis", "shared_redis_url", "worker_redis_db"]

SHARED_REDIS_URL = os.environ.get("POLYROUTE_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
IN_CI = os.environ.get("CI", "").lower() == "true"


def _unavailable(message: str) -> None:
    if IN_CI:
        pytest.fail(message + " -- mandatory because CI=true", pytrace=False)
    pytest.skip(message)


def _reachable(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


def worker_redis_db(base: int) -> int:
    """`base` plus this pytest-xdist worker's number, so parallel workers never share a database index.

    Packages that wipe their keys between modules (the response cache) must not wipe another worker's.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    db = base + int(worker.removeprefix("gw"))
    if db > 15:
        raise RuntimeError(f"Redis has 16 databases; {worker} would need database {db}")
    return db


def shared_redis_url() -> str:
    """The CI Redis; skipped (failed under CI=true) when it does not answer."""
    from urllib.parse import urlsplit

    parts = urlsplit(SHARED_REDIS_URL)
    if not _reachable(parts.hostname or "127.0.0.1", parts.port or 6379):
        _unavailable(f"Redis is not reachable at {SHARED_REDIS_URL}; start it or set POLYROUTE_TEST_REDIS_URL")
    return SHARED_REDIS_URL


@dataclass
class PrivateRedis:
    """A throwaway `redis-server` on a free port, without persistence, that tests may kill."""

    workdir: Path
    port: int = field(default_factory=free_port)
    proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> PrivateRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            _unavailable("redis-server is not installed (apt-get install redis-server)")
        assert binary is not None
        self.workdir.mkdir(parents=True, exist_ok=True)
        args = [binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        args += ["--dir", str(self.workdir)]
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _reachable("127.0.0.1", self.port):
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise RuntimeError("private redis-server did not start")
            time.sleep(0.05)
        return self

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(5)
        self.proc = None
