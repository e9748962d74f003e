"""Benchmark Polyroute against a direct call to the same fake upstream, in the same run.

Starts scripts/bench_upstream.py and the gateway (full pipeline: auth, limits, routing,
accounting), then runs each scenario against the upstream directly and through the gateway,
back to back, and prints a table plus one JSON line per scenario with the ratios.
Loopback only; every run is bounded in time and count.

  uv run python scripts/bench.py                      # the default set, ~2 minutes
  uv run python scripts/bench.py --quick              # a smoke run (a few hundred requests)
  uv run python scripts/bench.py --scenarios tput,lat --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.bench_load import LoadResult, closed_loop, open_loop, stream_run  # noqa: E402

KEY = "sk-poly-bench-0123456789abcdefghijkl"


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} not ready")


@dataclass
class Procs:
    upstream_port: int
    gateway_port: int
    gateway: subprocess.Popen[bytes]
    upstream: subprocess.Popen[bytes]
    tmp: Path
    workers: int
    children: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def stop(self) -> None:
        for proc in (self.gateway, self.upstream):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in (self.gateway, self.upstream):
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                proc.kill()


def start(workers: int, latency_ms: float = 0.0) -> Procs:
    tmp = Path(tempfile.mkdtemp(prefix="polyroute-bench-"))
    up_port, gw_port = free_port(), free_port()
    env = {**os.environ, "BENCH_LATENCY_MS": str(latency_ms)}
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts/bench_upstream.py"), str(up_port)], env=env, stdout=subprocess.DEVNULL
    )
    wait_ready(f"http://127.0.0.1:{up_port}/v1/models")
    config = {
        "providers": [
            {
                "name": "fake",
                "kind": "openai-compatible",
                "base_url": f"http://127.0.0.1:{up_port}/v1",
                "api_key": "sk-upstream",
                "timeout_s": 30,
                "models": [{"id": "gpt-fast", "input_cost_per_mtok": 1, "output_cost_per_mtok": 2}],
            },
        ],
        "plans": [{"name": "bench", "models": ["*"], "rpm": 100_000_000, "daily_requests": 1_000_000_000}],
        "api_keys": [{"name": "bench", "key": KEY, "plan": "bench"}],
    }
    (tmp / "bench.yaml").write_text(yaml.safe_dump(config))
    genv = {
        **os.environ,
        "POLYROUTE_DATABASE_URL": f"sqlite:///{tmp / 'bench.db'}",
        "POLYROUTE_DATA_DIR": str(tmp),
        "POLYROUTE_LOG_LEVEL": "WARNING",
    }
    gateway = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "app",
            "serve",
            "--config",
            str(tmp / "bench.yaml"),
            "--port",
            str(gw_port),
            "--workers",
            str(workers),
        ],
        cwd=ROOT,
        env=genv,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    wait_ready(f"http://127.0.0.1:{gw_port}/readyz")
    return Procs(up_port, gw_port, gateway, upstream, tmp, workers)


def rss_mb(pid: int) -> float:
    """RSS of a process and its children (granian workers), in MB."""
    total = 0
    pids = [pid]
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
        pids += [int(p) for p in out.split()]
    except FileNotFoundError:
        pass
    for p in pids:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total / 1024


def cpu_seconds(pid: int) -> float:
    total = 0.0
    pids = [pid]
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    pids += [int(p) for p in out.split()]
    tick = os.sysconf("SC_CLK_TCK")
    for p in pids:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / tick
        except OSError:
            continue
    return total


BODY = {"model": "fake/gpt-fast", "messages": [{"role": "user", "content": "Say hello in five words."}]}


def urls(p: Procs) -> tuple[str, dict[str, str], str, dict[str, str]]:
    direct = f"http://127.0.0.1:{p.upstream_port}/v1/chat/completions"
    via = f"http://127.0.0.1:{p.gateway_port}/v1/chat/completions"
    return direct, {"Authorization": "Bearer sk-upstream"}, via, {"Authorization": f"Bearer {KEY}"}


def summarize(name: str, direct: LoadResult, gateway: LoadResult, extra: dict[str, Any]) -> dict[str, Any]:
    row = {
        "scenario": name,
        "direct_rps": round(direct.rps, 1),
        "gateway_rps": round(gateway.rps, 1),
        "rps_ratio": round(gateway.rps / direct.rps, 3) if direct.rps else None,
        "direct_p50_ms": round(direct.p(50), 3),
        "gateway_p50_ms": round(gateway.p(50), 3),
        "added_p50_ms": round(gateway.p(50) - direct.p(50), 3),
        "direct_p99_ms": round(direct.p(99), 3),
        "gateway_p99_ms": round(gateway.p(99), 3),
        "added_p99_ms": round(gateway.p(99) - direct.p(99), 3),
        "errors": gateway.errors,
        "direct_errors": direct.errors,
        **extra,
    }
    return row


async def run_throughput(p: Procs, seconds: float, concurrency: int) -> dict[str, Any]:
    direct_url, dh, via_url, gh = urls(p)
    await closed_loop(via_url, gh, BODY, 1.0, concurrency)  # warm up
    direct = await closed_loop(direct_url, dh, BODY, seconds, concurrency)
    cpu0 = cpu_seconds(p.gateway.pid)
    gateway = await closed_loop(via_url, gh, BODY, seconds, concurrency)
    cpu = cpu_seconds(p.gateway.pid) - cpu0
    per_req_ms = cpu / max(1, gateway.count) * 1000
    return summarize(
        f"tput_c{concurrency}",
        direct,
        gateway,
        {
            "gateway_cpu_ms_per_request": round(per_req_ms, 3),
            "gateway_rps_per_core": round(gateway.count / cpu, 1) if cpu else None,
            "workers": p.workers,
            "rss_mb": round(rss_mb(p.gateway.pid), 1),
        },
    )


async def run_latency(p: Procs, seconds: float, rate: float, label: str) -> dict[str, Any]:
    direct_url, dh, via_url, gh = urls(p)
    await open_loop(via_url, gh, BODY, 1.0, rate)
    direct = await open_loop(direct_url, dh, BODY, seconds, rate)
    gateway = await open_loop(via_url, gh, BODY, seconds, rate)
    return summarize(label, direct, gateway, {"rate": rate})


async def run_stream(p: Procs, count: int, chunks: int) -> dict[str, Any]:
    direct_url, dh, via_url, gh = urls(p)
    body = {**BODY, "stream": True}
    headers = {"x-bench-chunks": str(chunks)}
    await stream_run(via_url, {**gh, **headers}, body, 20, 4)
    direct = await stream_run(direct_url, {**dh, **headers}, body, count, 4)
    gateway = await stream_run(via_url, {**gh, **headers}, body, count, 4)
    return {
        "scenario": f"stream_{chunks}",
        "direct_ttft_p50_ms": round(direct.ttft(50), 3),
        "gateway_ttft_p50_ms": round(gateway.ttft(50), 3),
        "added_ttft_p50_ms": round(gateway.ttft(50) - direct.ttft(50), 3),
        "added_ttft_p99_ms": round(gateway.ttft(99) - direct.ttft(99), 3),
        "added_total_p50_ms": round(gateway.p(50) - direct.p(50), 3),
        "errors": gateway.errors,
    }


def print_row(row: dict[str, Any]) -> None:
    print(json.dumps(row), flush=True)


async def main_async(args: argparse.Namespace) -> int:
    scenarios = args.scenarios.split(",")
    seconds = 2.0 if args.quick else args.duration
    p = start(args.workers)
    rows: list[dict[str, Any]] = []
    try:
        if "tput" in scenarios:
            rows.append(await run_throughput(p, seconds, args.concurrency))
            print_row(rows[-1])
        if "lat" in scenarios:
            rows.append(await run_latency(p, seconds, args.rate, "lat_l0"))
            print_row(rows[-1])
        if "stream" in scenarios:
            for chunks in (20, 200):
                rows.append(await run_stream(p, 40 if args.quick else 200, chunks))
                print_row(rows[-1])
    finally:
        p.stop()
    if "lat50" in scenarios:
        p = start(args.workers, latency_ms=50)
        try:
            rows.append(await run_latency(p, seconds, args.rate, "lat_l50"))
            print_row(rows[-1])
        finally:
            p.stop()
    print()
    for row in rows:
        print(" | ".join(f"{k}={v}" for k, v in row.items()))
    failed = sum(int(r.get("errors", 0)) for r in rows)
    return 1 if failed else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default="tput,lat,lat50,stream")
    parser.add_argument("--duration", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--rate", type=float, default=200.0)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    return asyncio.run(main_async(args))


if __name__ == "__main__":
    sys.exit(main())
