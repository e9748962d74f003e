"""Processes for scripts/bench.py: start the fake upstream and the gateway, measure them from /proc, stop them.

Every process started here gets PR_SET_PDEATHSIG, so even a SIGKILLed bench takes its upstream and
gateway with it; `stop_all()` (called from bench.py's `finally`, also on Ctrl-C and SIGTERM) stops the
gateway's whole process tree, granian workers included.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import yaml

__all__ = ["KEY", "ProcStats", "Procs", "free_port", "is_worker", "proc_stats", "start", "stop_all", "tree"]

ROOT = Path(__file__).resolve().parents[1]
KEY = "sk-poly-bench-0123456789abcdefghijkl"
TICK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024
_LIVE: list[Procs] = []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:
    # prctl(PR_SET_PDEATHSIG, SIGTERM): the child is told to stop when the bench process dies.
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)
    except OSError:
        pass


def _wait_ready(url: str, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"process for {url} exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready after {timeout:.0f}s")


def _stat(pid: int) -> list[str] | None:
    """The fields of /proc/PID/stat after the command name (field 3 onwards), or None if gone."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def is_worker(cmdline: bytes) -> bool:
    """Whether a process of the gateway's tree (its /proc/PID/cmdline) serves requests: granian's
    workers repeat the `serve` command line, uvicorn's are multiprocessing spawns."""
    return b"\0serve\0" in cmdline or b"multiprocessing.spawn" in cmdline


def tree(root: int) -> list[int]:
    """`root` and all its descendants (granian's workers are children of its master)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := _stat(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return sorted(found)


@dataclass(frozen=True)
class ProcStats:
    """RSS (MB) of the master, of each worker and of helper processes (multiprocessing's resource
    tracker), and CPU seconds of the whole tree."""

    master_mb: float
    workers_mb: tuple[float, ...]
    helpers_mb: float
    cpu_s: float

    @property
    def total_mb(self) -> float:
        return self.master_mb + sum(self.workers_mb) + self.helpers_mb

    @property
    def max_worker_mb(self) -> float:
        return max(self.workers_mb, default=self.master_mb)

    def as_dict(self, prefix: str) -> dict[str, Any]:
        return {
            f"{prefix}_total_mb": round(self.total_mb, 1),
            f"{prefix}_master_mb": round(self.master_mb, 1),
            f"{prefix}_workers_mb": [round(mb, 1) for mb in self.workers_mb],
            f"{prefix}_helpers_mb": round(self.helpers_mb, 1),
        }


def proc_stats(root: int, pids: list[int] | None = None) -> ProcStats:
    """Figures for `root`'s tree; pass `pids` (from `tree`) to skip the /proc walk when sampling often."""
    master, workers, helpers, cpu = 0.0, [], 0.0, 0.0
    for pid in pids if pids is not None else tree(root):
        fields = _stat(pid)
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if fields is None:
            continue
        rss_mb = int(fields[21]) * PAGE_KB / 1024  # field 24: resident pages
        cpu += (int(fields[11]) + int(fields[12])) / TICK  # fields 14, 15: utime, stime
        if pid == root:
            master = rss_mb
        elif is_worker(cmdline):
            workers.append(rss_mb)
        else:
            helpers += rss_mb
    if not workers and master:  # uvicorn with one worker serves from the master process itself
        return ProcStats(0.0, (master,), helpers, cpu)
    return ProcStats(master, tuple(workers), helpers, cpu)


@dataclass
class Procs:
    upstream_port: int
    gateway_port: int
    gateway: subprocess.Popen[bytes]
    upstream: subprocess.Popen[bytes]
    tmp: Path
    workers: int
    owns_upstream: bool = True
    """False when it shares another's upstream (`start(upstream_of=...)`), which that one stops."""

    def stop(self) -> None:
        pids = tree(self.gateway.pid) if self.gateway.poll() is None else []
        starts = {pid: (_stat(pid) or [""] * 20)[19] for pid in pids}  # start time tells a reused pid apart
        mine = (self.gateway, self.upstream) if self.owns_upstream else (self.gateway,)
        for proc in mine:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in mine:
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for pid in pids:  # a worker the master left behind
            fields = _stat(pid)
            if fields is not None and fields[19] == starts[pid]:
                os.kill(pid, signal.SIGKILL)
        if self in _LIVE:
            _LIVE.remove(self)
        shutil.rmtree(self.tmp, ignore_errors=True)  # the SQLite file holds a row per request


def stop_all() -> None:
    for procs in list(_LIVE):
        procs.stop()


def _config(up_port: int) -> dict[str, Any]:
    # Generous attempt timeouts: a held stream lasts the whole hold (30 s by default).
    timeouts = {"timeout_s": 600, "first_token_timeout_s": 60, "stall_timeout_s": 60}
    return {
        "providers": [
            {
                "name": "fake",
                "kind": "openai-compatible",
                "base_url": f"http://127.0.0.1:{up_port}/v1",
                "api_key": "sk-upstream",
                **timeouts,
                "models": [{"id": "gpt-fast", "input_cost_per_mtok": 1, "output_cost_per_mtok": 2}],
            },
            {
                "name": "anth",
                "kind": "anthropic",
                "base_url": f"http://127.0.0.1:{up_port}",
                "api_key": "sk-ant-upstream",
                **timeouts,
                "models": [{"id": "claude-fast", "input_cost_per_mtok": 1, "output_cost_per_mtok": 5}],
            },
        ],
        "routes": [
            {
                "name": "route/bench-translated",
                "strategy": "priority-fallback",
                "targets": [{"provider": "anth", "model": "claude-fast", "priority": 0}],
            }
        ],
        "plans": [{"name": "bench", "models": ["*"], "rpm": 100_000_000, "daily_requests": 1_000_000_000}],
        "api_keys": [{"name": "bench", "key": KEY, "plan": "bench"}],
    }


def start(
    workers: int,
    *,
    prefix: Sequence[str] = (),
    floor: bool = False,
    ready_timeout: float = 120,
    extra_env: dict[str, str] | None = None,
    upstream_of: Procs | None = None,
) -> Procs:
    """The fake upstream and the gateway (full pipeline, SQLite in a temp dir), both ready.

    `prefix` goes before the gateway's command (valgrind, say); `floor` starts scripts/bench_floor.py
    (a bare forwarder through the same upstream client) in the gateway's place; `extra_env` adds to the
    gateway's environment only (the upstream keeps the bench's own). `upstream_of` points this gateway
    at that one's fake upstream instead of starting another: gateways compared side by side must share
    it, or the one whose upstream also serves the direct calls meets a warmer upstream.
    """
    tmp = Path(tempfile.mkdtemp(prefix="polyroute-bench-"))
    gw_port = free_port()
    if upstream_of is not None:
        up_port, upstream = upstream_of.upstream_port, upstream_of.upstream
    else:
        up_port = free_port()
        upstream = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts/bench_upstream.py"), str(up_port)],
            stdout=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
        )
    (tmp / "bench.yaml").write_text(yaml.safe_dump(_config(up_port)))
    env = {
        **os.environ,
        **(extra_env or {}),
        "POLYROUTE_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "POLYROUTE_DATA_DIR": str(tmp),
        "POLYROUTE_LOG_LEVEL": "WARNING",
    }
    if floor:
        cmd = [sys.executable, str(ROOT / "scripts/bench_floor.py"), str(gw_port), str(up_port)]
    else:
        cmd = [sys.executable, "-m", "app", "serve", "--config", str(tmp / "bench.yaml")]
        cmd += ["--port", str(gw_port), "--workers", str(workers)]
    log = (tmp / "gateway.log").open("wb")  # read back when it fails to start
    gateway = subprocess.Popen(
        [*prefix, *cmd],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log,
        preexec_fn=_die_with_parent,
    )
    log.close()  # the child has its own copy
    procs = Procs(up_port, gw_port, gateway, upstream, tmp, workers, owns_upstream=upstream_of is None)
    _LIVE.append(procs)
    try:
        _wait_ready(f"http://127.0.0.1:{up_port}/v1/models", upstream)
        _wait_ready(f"http://127.0.0.1:{gw_port}/readyz", gateway, ready_timeout)
        _wait_workers(procs)
    except BaseException:
        sys.stderr.write((tmp / "gateway.log").read_text(errors="replace")[-4000:])
        procs.stop()
        raise
    return procs


def _wait_workers(procs: Procs, timeout: float = 60) -> None:
    """Readiness answers as soon as one worker is up; per-worker figures need all of them."""
    deadline = time.monotonic() + timeout
    while len(proc_stats(procs.gateway.pid).workers_mb) < procs.workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(proc_stats(procs.gateway.pid).workers_mb)} of {procs.workers} workers")
        time.sleep(0.1)
