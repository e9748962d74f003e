"""CPU instructions per request through the gateway, counted by valgrind, beside the bare-forwarder floor.

Wall-clock figures on a shared or virtual machine move by tens of percent between runs; an
instruction count does not (the same code and inputs give the same count within ~1 %, whatever else
the machine is doing). This runs the gateway (full pipeline, as scripts/bench.py starts it) under
`valgrind --tool=callgrind`, sends a warm-up, then per scenario zeroes the counters, sends
--requests sequential calls and reads the counts back, per thread:

  main     the event loop thread: everything on a request's path (server, pipeline, upstream client)
  others   the writer threads and SQLite's worker threads: usage rows, log lines, background polls

Background work that runs by the clock (polls, flushes) is counted while idle first and that rate
is subtracted per thread. Under valgrind the gateway serves ~50 requests/s instead of thousands,
so clock-driven work weighs ~50x more per request than in production: read `others` as an upper
bound, `main` as the figure to compare. With --floor (the default) scripts/bench_floor.py, a bare
forwarder through the same upstream client on the same server, is counted the same way: the
difference is what auth, limits, routing, translation and accounting cost.

Scenarios: whole (chat, same dialect), stream (chat, 20 chunks, same dialect), translated (chat
client -> Anthropic upstream; the floor has no translation and forwards the same chat call).
One JSON line per scenario, then a table. Needs valgrind (Debian's package); loopback only.

  uv run --frozen python scripts/bench_instructions.py                 # ~5 min
  uv run --frozen python scripts/bench_instructions.py --scenarios whole --no-floor
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.bench_procs import KEY, Procs, start, stop_all  # noqa: E402

BODIES: dict[str, dict[str, Any]] = {
    "whole": {"model": "fake/gpt-fast", "messages": [{"role": "user", "content": "hi"}]},
    "stream": {"model": "fake/gpt-fast", "messages": [{"role": "user", "content": "hi"}], "stream": True},
    "translated": {"model": "route/bench-translated", "messages": [{"role": "user", "content": "hi"}]},
}
IDLE_S = 5.0


@dataclass(frozen=True)
class Counts:
    """Instructions per thread group in one callgrind dump."""

    main: int
    others: int


class Counted:
    """A server under callgrind (one file per thread per dump), with zero and dump on demand."""

    def __init__(self, procs: Procs, out: Path) -> None:
        self.procs = procs
        self.out = out
        self.dumps = 0
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{procs.gateway_port}",
            headers={"authorization": f"Bearer {KEY}"},
            timeout=120,
        )

    def _control(self, flag: str) -> None:
        subprocess.run(["callgrind_control", flag, str(self.procs.gateway.pid)], check=True, capture_output=True)

    def zero(self) -> None:
        self._control("-z")

    def dump(self) -> Counts:
        self._control("-d")
        self.dumps += 1
        main, others = 0, 0
        for path in sorted(self.out.parent.glob(f"{self.out.name}.{self.dumps}-*")):
            lines = path.read_text(errors="replace").splitlines()
            count = int(next(line for line in lines if line.startswith("summary:")).split()[1])
            if path.name.endswith("-01"):
                main += count
            else:
                others += count
        return Counts(main, others)

    def call(self, body: dict[str, Any]) -> None:
        resp = self.client.post("/v1/chat/completions", json=body)
        resp.read()
        if resp.status_code != 200:
            raise RuntimeError(f"HTTP {resp.status_code}: {resp.text[:300]}")


def measure(floor: bool, scenarios: list[str], requests: int, warmup: int) -> dict[str, dict[str, float]]:
    """Per scenario: thousands of instructions per request on the main thread and on the others."""
    out_dir = Path(tempfile.mkdtemp(prefix="polyroute-callgrind-"))
    out = out_dir / "cg.out"
    prefix = [
        "valgrind",
        "--tool=callgrind",
        f"--callgrind-out-file={out}",
        "--separate-threads=yes",
        "--dump-instr=no",
    ]
    procs = start(1, prefix=prefix, floor=floor, ready_timeout=900)
    what = "floor" if floor else "gateway"
    ports = f"127.0.0.1:{procs.gateway_port}, upstream on 127.0.0.1:{procs.upstream_port}"
    print(f"counting {what} on {ports}", file=sys.stderr)
    try:
        server = Counted(procs, out)
        for name in scenarios:
            for _ in range(warmup):
                server.call(BODIES[name])
        time.sleep(1)
        server.zero()
        began = time.monotonic()
        time.sleep(IDLE_S)
        idle = server.dump()
        idle_s = time.monotonic() - began
        rows: dict[str, dict[str, float]] = {}
        for name in scenarios:
            server.zero()
            began = time.monotonic()
            for _ in range(requests):
                server.call(BODIES[name])
            counts = server.dump()
            elapsed = time.monotonic() - began
            main = max(0.0, counts.main - idle.main * elapsed / idle_s) / requests
            others = max(0.0, counts.others - idle.others * elapsed / idle_s) / requests
            rows[name] = {"main_k": round(main / 1000, 1), "others_k": round(others / 1000, 1)}
        return rows
    finally:
        procs.stop()
        shutil.rmtree(out_dir, ignore_errors=True)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(BODIES), help=f"comma-separated subset of {','.join(BODIES)}")
    parser.add_argument("--requests", type=int, default=300, help="counted requests per scenario (300)")
    parser.add_argument("--warmup", type=int, default=50, help="requests per scenario before counting (50)")
    parser.add_argument("--floor", action=argparse.BooleanOptionalAction, default=True, help="count the floor too")
    args = parser.parse_args(argv)
    args.scenarios = [s for s in args.scenarios.split(",") if s]
    unknown = set(args.scenarios) - set(BODIES)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.requests < 1 or args.warmup < 1:
        parser.error("--requests and --warmup must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if shutil.which("valgrind") is None or shutil.which("callgrind_control") is None:
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    os.environ["PYTHONHASHSEED"] = "0"  # the same dict and set layouts in every run: fewer stray differences
    # Clock-driven polls are not request work, and under valgrind they weigh ~50x more per request; the
    # idle-rate subtraction removes them only on average, so slow them down (the usage flush stays).
    for name in ("POLYROUTE_CATALOG_POLL_S", "POLYROUTE_TASK_POLL_S", "POLYROUTE_BATCH_POLL_S"):
        os.environ[name] = "60"
    try:
        gateway = measure(False, args.scenarios, args.requests, args.warmup)
        floor = measure(True, args.scenarios, args.requests, args.warmup) if args.floor else {}
    finally:
        stop_all()
    rows = []
    for name in args.scenarios:
        row: dict[str, Any] = {"scenario": f"instr_{name}", "requests": args.requests, **gateway[name]}
        row["total_k"] = round(row["main_k"] + row["others_k"], 1)
        if name in floor:
            row["floor_main_k"] = floor[name]["main_k"]
            row["floor_total_k"] = round(floor[name]["main_k"] + floor[name]["others_k"], 1)
            row["main_ratio"] = round(row["main_k"] / row["floor_main_k"], 2) if row["floor_main_k"] else None
        print(json.dumps(row), flush=True)
        rows.append(row)
    print(f"\n{'scenario':<18}{'main k':>10}{'others k':>10}{'floor main k':>14}{'main/floor':>12}")
    for row in rows:
        ratio = row.get("main_ratio")
        print(
            f"{row['scenario']:<18}{row['main_k']:>10}{row['others_k']:>10}"
            f"{row.get('floor_main_k', '-'):>14}{ratio if ratio is not None else '-':>12}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
