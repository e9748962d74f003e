"""How many functions one request enters, and whose: ours, asyncio's event loop, uvicorn's, C.

scripts/bench_stages.py says where a request's time goes; this says what runs. The gateway starts
with scripts/stage_probe/sitecustomize.py loaded and POLYROUTE_CALL_CENSUS set; after a warm-up,
SIGUSR2 turns a `sys.setprofile` counter on in its event-loop thread, --requests calls go through
one at a time (whole answers, or --stream with --chunks chunks --delay-ms apart), and a second
SIGUSR2 writes the counts. Figures are per request; a coroutine counts again each time it resumes
(a pipeline coroutine that awaits the upstream once shows 2.0). Work that ran in the window without
being part of a request (polls, timers) is counted too, so read fractions below ~0.5 as noise. Counts, unlike
timings, repeat from run to run, so two builds compare directly: one stall timer per connection
instead of `asyncio.timeout` per chunk showed as 1,205 -> 821 asyncio calls per 20-chunk stream.
Loopback only.

  uv run --frozen python scripts/bench_calls.py                  # 100 whole calls
  uv run --frozen python scripts/bench_calls.py --stream --chunks 20 --delay-ms 2
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.bench_procs import KEY, Procs, start, stop_all  # noqa: E402

GROUPS = ("c", "ours", "asyncio", "uvicorn", "other")


def group_of(where: str) -> str:
    """Which code a census line's `file:line` belongs to."""
    if where.startswith("C:"):
        return "c"
    path = where.rsplit(":", 1)[0]
    if path.startswith((str(ROOT / "app"), str(ROOT / "strategies"))):
        return "ours"
    if "/asyncio/" in path or path.endswith("/selectors.py"):
        return "asyncio"
    if "/uvicorn/" in path:
        return "uvicorn"
    return "other"


def read_census(text: str, requests: int) -> tuple[dict[str, float], list[tuple[float, str, str]]]:
    """Per-request totals by group, and every function with its per-request count, most first."""
    totals = dict.fromkeys(GROUPS, 0.0)
    rows = []
    for line in text.splitlines():
        count, name, where = line.split("\t")
        per = int(count) / requests
        totals[group_of(where)] += per
        rows.append((per, name, where))
    return totals, rows


def _body(args: argparse.Namespace) -> bytes:
    content = f"hi bench-chunks={args.chunks} bench-delay-ms={args.delay_ms:g}" if args.stream else "hi"
    message = {"role": "user", "content": content}
    return json.dumps({"model": "fake/gpt-fast", "messages": [message], "stream": args.stream}).encode()


def _calls(procs: Procs, body: bytes, count: int) -> None:
    conn = http.client.HTTPConnection("127.0.0.1", procs.gateway_port, timeout=30)
    headers = {"authorization": f"Bearer {KEY}", "content-type": "application/json"}
    try:
        for _ in range(count):
            conn.request("POST", "/v1/chat/completions", body, headers)
            resp = conn.getresponse()
            answer = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"gateway answered {resp.status}: {answer[:300]!r}")
    finally:
        conn.close()


def _census(procs: Procs, path: Path, body: bytes, requests: int) -> str:
    os.kill(procs.gateway.pid, signal.SIGUSR2)
    time.sleep(0.2)  # the handler runs between the loop's callbacks
    _calls(procs, body, requests)
    os.kill(procs.gateway.pid, signal.SIGUSR2)
    deadline = time.monotonic() + 30
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError("the gateway wrote no census (is the probe loaded?)")
        time.sleep(0.05)
    return path.read_text()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=100, help="calls counted (100)")
    parser.add_argument("--stream", action="store_true", help="streamed calls instead of whole answers")
    parser.add_argument("--chunks", type=int, default=20, help="content chunks per stream (20)")
    parser.add_argument("--delay-ms", type=float, default=2.0, help="pause between a stream's chunks (2)")
    parser.add_argument("--top", type=int, default=30, help="functions listed, most entered first (30)")
    args = parser.parse_args(argv)
    if args.requests <= 0 or args.chunks <= 0 or args.delay_ms < 0 or args.top < 0:
        parser.error("--requests and --chunks must be positive, --delay-ms and --top not negative")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out = Path(tempfile.mkdtemp(prefix="polyroute-calls-")) / "census.txt"
    probe = os.pathsep.join(p for p in (str(ROOT / "scripts/stage_probe"), os.environ.get("PYTHONPATH", "")) if p)
    body = _body(args)
    try:
        procs = start(1, extra_env={"PYTHONPATH": probe, "POLYROUTE_CALL_CENSUS": str(out)})
        _calls(procs, body, 100)  # warm-up: first-call imports and caches stay out of the counts
        text = _census(procs, out, body, args.requests)
    finally:
        stop_all()
    totals, rows = read_census(text, args.requests)
    row: dict[str, Any] = {
        "scenario": "calls_stream" if args.stream else "calls_whole",
        "requests": args.requests,
        "per_request": {"total": round(sum(totals.values()), 2), **{g: round(v, 2) for g, v in totals.items()}},
        "functions": {f"{name} ({where})": round(per, 2) for per, name, where in rows[: args.top]},
    }
    print(json.dumps(row), flush=True)
    kind = f"stream of {args.chunks} chunks {args.delay_ms:g} ms apart" if args.stream else "whole call"
    print(f"\nfunctions entered per {kind} ({args.requests} counted): {row['per_request']['total']:.1f}")
    print("  " + ", ".join(f"{g} {totals[g]:.1f}" for g in GROUPS))
    for per, name, where in rows[: args.top]:
        print(f"{per:10.2f}  {name:<50} {where.replace(str(ROOT) + '/', '')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
