"""Benchmark Polyroute against a direct call to the same fake upstream, in the same run.

Starts scripts/bench_upstream.py (a fast fake OpenAI + Anthropic upstream) and the gateway with
`--workers N` (full pipeline: auth, limits, routing, accounting; SQLite in a temp dir), runs each
scenario against the upstream directly and through the gateway in the same run (the lat and
stream rows interleave the two on one schedule, so drift of a shared machine hits both), and prints
one JSON line per scenario as it finishes, then one table. Every row has the headline ratio
(gateway / direct) and the gateway's per-core figures: rps per worker, rps per CPU-second
(`rps_per_core`) and CPU ms per request, summed from /proc over the gateway's master and workers.

Scenarios (--scenarios, comma-separated):
  tput    non-stream throughput, closed loop at --concurrency (64), 0 ms upstream
  lat     added p50/p99 at a fixed --rate, 0 ms upstream            (row lat_l0); also the
          gateway's own time from its Server-Timing header (gateway_self_*: the pipeline without
          the extra loopback hop and process wake-ups that `added` holds)
  lat50   the same with a 50 ms upstream                           (row lat_l50)
  stream  time to first token and total time of 20- and 200-chunk streams, same dialect
          (OpenAI -> OpenAI-compatible) and translated (OpenAI client -> Anthropic upstream; its
          baseline calls the fake Anthropic /v1/messages directly)
  mem     RSS (master + each worker) after warm-up, peak under load, and after --mem-requests
          (100k) requests; rss_growth_* is end minus after-warm-up: ~0 means no leak;
          usage_backlog_at_end: usage events not yet written when the load stopped (a writer
          slower than the load shows here first); usage_backlog_after_settle: the same 2 s later
          (0 when the writer keeps up; 0.5 s with --quick); usage_drain_s: seconds from the load's end
          until nothing is left to write (polled up to 15 s; null if it never got there)
  hold    --hold-streams (1000) slow streams open at once for --hold-seconds (30 s): errors and RSS
The mem run (100k requests) and the two 30 s holds take most of the time; the RSS of the master, of
each worker and of multiprocessing's resource tracker is in every row (rss_*), peaks in mem and hold.
Loopback only; every run is bounded in count and time; the upstream and the gateway (its workers too)
are stopped on exit, on Ctrl-C, on SIGTERM, and (PR_SET_PDEATHSIG) if this process is killed.
Exit status 1 if any request failed, direct or through the gateway.

  uv run --frozen python scripts/bench.py                  # everything: ~5 min on a quiet 2-core machine
  uv run --frozen python scripts/bench.py --workers 2      # the same with two gateway workers
  uv run --frozen python scripts/bench.py --quick          # smoke run: small counts, ~30 s
  uv run --frozen python scripts/bench.py --scenarios tput,lat --duration 15
Run it on a quiet machine: the load generator shares the cores with the gateway and the upstream.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts import bench_scenarios as sc  # noqa: E402
from scripts.bench_procs import start, stop_all  # noqa: E402

ALL = ("tput", "lat", "lat50", "stream", "mem", "hold")
# name: (full run, --quick); None in the arguments means "take this default".
DEFAULTS: dict[str, tuple[float, float]] = {
    "duration": (8.0, 1.0),
    "rate": (200.0, 100.0),
    "stream_count": (200, 20),
    "mem_requests": (100_000, 1_500),
    "hold_streams": (1000, 100),
    "hold_seconds": (30.0, 3.0),
}
COLUMNS = (
    ("scenario", "scenario"),
    ("workers", "w"),
    ("metric", "metric"),
    ("direct", "direct"),
    ("gateway", "gateway"),
    ("ratio", "ratio"),
    ("added_p50_ms", "+p50 ms"),
    ("added_p99_ms", "+p99 ms"),
    ("gateway_self_p50_ms", "self p50"),
    ("added_ttft_p50_ms", "+ttft ms"),
    ("rps_per_worker", "rps/worker"),
    ("rps_per_core", "rps/core"),
    ("cpu_ms_per_request", "cpu ms/req"),
    ("rss_total_mb", "rss MB"),
    ("peak_rss_total_mb", "peak MB"),
    ("rss_growth_total_mb", "growth MB"),
    ("errors", "errors"),
)


def print_table(rows: list[dict[str, Any]]) -> None:
    cells = [[title for _, title in COLUMNS]]
    cells += [["-" if row.get(key) is None else str(row[key]) for key, _ in COLUMNS] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(COLUMNS))]
    for n, line in enumerate(cells):
        print(" | ".join(cell.rjust(width) for cell, width in zip(line, widths, strict=True)))
        if n == 0:
            print("-+-".join("-" * width for width in widths))


async def run(args: argparse.Namespace, scenarios: list[str]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    began = time.monotonic()
    p = start(args.workers)
    print(
        f"bench: gateway on 127.0.0.1:{p.gateway_port} ({args.workers} workers), upstream on "
        f"127.0.0.1:{p.upstream_port}, ready in {time.monotonic() - began:.1f}s",
        file=sys.stderr,
        flush=True,
    )

    began = time.monotonic()

    def emit(row: dict[str, Any]) -> None:
        nonlocal began
        row["elapsed_s"] = round(time.monotonic() - began, 1)
        began = time.monotonic()
        rows.append(row)
        print(json.dumps(row), flush=True)

    try:
        if "tput" in scenarios:
            emit(await sc.throughput(p, args.duration, args.concurrency))
        for name, upstream_ms in (("lat", 0), ("lat50", 50)):
            if name in scenarios:
                emit(await sc.latency(p, args.duration, args.rate, upstream_ms))
        if "stream" in scenarios:
            for translated in (False, True):
                for chunks in (20, 200):
                    emit(await sc.streaming(p, int(args.stream_count), chunks, translated))
        if "mem" in scenarios:  # before hold: a thousand open streams leave the allocator with pages to give back
            settle = 0.5 if args.quick else 2.0
            emit(await sc.memory(p, int(args.mem_requests), args.concurrency, args.mem_max_seconds, settle))
        if "hold" in scenarios:
            emit(await sc.hold_streams(p, int(args.hold_streams), args.hold_seconds))
    finally:
        p.stop()
    return rows


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scenarios", default=",".join(ALL), help=f"comma-separated subset of {','.join(ALL)}")
    parser.add_argument("--workers", type=int, default=1, help="gateway worker processes (default 1)")
    parser.add_argument("--quick", action="store_true", help="smoke run: the small defaults shown in brackets")
    parser.add_argument("--duration", type=float, help="seconds per tput/lat load (8 [1])")
    parser.add_argument("--concurrency", type=int, default=64, help="closed-loop connections for tput and mem (64)")
    parser.add_argument("--rate", type=float, help="requests/s for lat and lat50 (200 [100])")
    parser.add_argument("--stream-count", type=int, help="streams per stream scenario (200 [20])")
    parser.add_argument("--mem-requests", type=int, help="requests in the mem scenario (100000 [1500])")
    parser.add_argument("--mem-max-seconds", type=float, default=600.0, help="time cap on each mem load (600)")
    parser.add_argument("--hold-streams", type=int, help="streams held open at once (1000 [100])")
    parser.add_argument("--hold-seconds", type=float, help="how long they are held (30 [3])")
    args = parser.parse_args(argv)
    for name, (full, quick) in DEFAULTS.items():
        if getattr(args, name) is None:
            setattr(args, name, quick if args.quick else full)
    unknown = set(args.scenarios.split(",")) - set(ALL)
    if unknown:
        parser.error(f"unknown scenarios: {', '.join(sorted(unknown))}")
    if args.workers < 1:
        parser.error("--workers must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # Set both explicitly: a shell starts a background job with SIGINT ignored, and Python keeps that.
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    try:
        rows = asyncio.run(run(args, args.scenarios.split(",")))
    except KeyboardInterrupt:
        print("bench: interrupted", file=sys.stderr)
        return 130
    finally:
        stop_all()
    print()
    print_table(rows)
    failed = sum(int(r["errors"]) + int(r["direct_errors"]) for r in rows)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
