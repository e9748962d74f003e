"""Where a request's wall time goes, stage by stage, in the gateway and in the bare-forwarder floor.

scripts/bench.py says how much the gateway adds; this says where. The gateway (full pipeline) and
scripts/bench_floor.py run side by side, on one fake upstream, with scripts/stage_probe/sitecustomize.py
loaded, which stamps each request as it passes a few points (server, pipeline, upstream client); an
open-loop load alternates the direct call, the floor and the gateway on one schedule (--rate each;
half the time floor first, half gateway first), then the stamps are read back and each stage's
median and p90 printed in microseconds:

  intake     request bytes in -> the server's task runs the app (parse, task switch)
  prelude    -> the pipeline starts (ids, trace, access-log state, body read) [gateway]
  admit      -> the attempt loop starts (auth, parse, resolve, limits, routing) [gateway]
  setup      -> the upstream request is written (the floor: its whole app until then)
  upstream   -> the upstream's first bytes are in (the send itself included)
  read       -> the answer is read and checked [gateway: the pipeline has it]
  reply      -> the response head goes to the server (headers built)
  write      -> the response's last byte is written (the caller has it from here)
  after      -> the server's task ends (usage event, access line) [not on the caller's time]

With --hot the load is one call at a time, back to back, instead: the same code with warm caches.
Stamps cost ~0.3 µs each, so stages read a little long; compare gateway with floor, and a build
with another, not with bench.py's figures. Loopback only; bounded by --seconds.

  uv run --frozen python scripts/bench_stages.py                  # 200 req/s each, 8 s
  uv run --frozen python scripts/bench_stages.py --rate 50 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from scripts.bench_load import LoadResult, Target, closed_loop, open_loop_interleaved  # noqa: E402
from scripts.bench_procs import KEY, Procs, start, stop_all  # noqa: E402

# (stage, the stamp that ends it); a stage starts where the previous one ended.
GATEWAY_STAGES = [
    ("intake", "app"),
    ("prelude", "pipeline"),
    ("admit", "attempts"),
    ("setup", "send"),
    ("upstream", "upstream"),
    ("read", "answer"),
    ("reply", "reply"),
    ("write", "written"),
    ("after", "done"),
]
FLOOR_STAGES = [
    ("intake", "app"),
    ("setup", "send"),
    ("upstream", "upstream"),
    ("reply", "reply"),
    ("write", "written"),
    ("after", "done"),
]
BODY = {"model": "fake/gpt-fast", "messages": [{"role": "user", "content": "hi"}]}


def requests_from(stamps: list[tuple[str, int]], stages: list[tuple[str, str]]) -> list[dict[str, int]]:
    """One dict of stamp -> first time it was hit, per request that passed every point alone.

    A request starts at the first `arrive` after the previous one's `done` (a body that comes in two
    reads stamps `arrive` twice); a second `app` before `done` means another request was in flight at
    the same time, and both are left out, since their stamps mix.
    """
    wanted = {end for _, end in stages}
    out: list[dict[str, int]] = []
    current: dict[str, int] | None = None
    for name, at in stamps:
        if name == "arrive":
            if current is None or "done" in current:
                if current is not None:
                    out.append(current)
                current = {"arrive": at}
            continue
        if current is None:
            continue
        if name == "app" and "app" in current:
            current["overlap"] = 1
        current.setdefault(name, at)
    if current is not None:
        out.append(current)
    return [r for r in out if "overlap" not in r and wanted <= r.keys()]


def stage_table(reqs: list[dict[str, int]], stages: list[tuple[str, str]]) -> dict[str, dict[str, float]]:
    """Per stage: median and p90 in µs; `to_written` is the caller-facing total (arrive -> written)."""

    def figures(spans_ns: list[int]) -> dict[str, float]:
        spans = sorted(ns / 1000 for ns in spans_ns)
        return {"p50_us": round(statistics.median(spans), 1), "p90_us": round(spans[int(0.9 * (len(spans) - 1))], 1)}

    out: dict[str, dict[str, float]] = {}
    previous = "arrive"
    for name, end in stages:
        out[name] = figures([r[end] - r[previous] for r in reqs])
        previous = end
    out["to_written"] = figures([r["written"] - r["arrive"] for r in reqs])
    return out


def read_stamps(procs: Procs, path: Path, timeout: float = 30) -> list[tuple[str, int]]:
    path.unlink(missing_ok=True)
    os.kill(procs.gateway.pid, signal.SIGUSR1)
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            raise RuntimeError(f"no stamps from pid {procs.gateway.pid} (is the probe loaded?)")
        time.sleep(0.05)
    stamps = []
    for line in path.read_text().splitlines():
        name, at = line.split()
        stamps.append((name, int(at)))
    return stamps


async def load(
    gateway: Procs, floor: Procs, args: argparse.Namespace, warmed: Callable[[], None]
) -> dict[str, LoadResult]:
    """The measured load; `warmed` runs between the warm-up and it."""
    auth = {"authorization": f"Bearer {KEY}"}
    gw = Target(f"http://127.0.0.1:{gateway.gateway_port}/v1/chat/completions", auth, BODY)
    fl = Target(f"http://127.0.0.1:{floor.gateway_port}/v1/chat/completions", {}, {**BODY, "model": "gpt-fast"})
    direct = Target(f"http://127.0.0.1:{gateway.upstream_port}/v1/chat/completions", {}, {**BODY, "model": "gpt-fast"})
    if args.hot:
        for target in (direct, fl, gw):
            await closed_loop(target.url, target.headers, target.body, 1.0, 1)
        warmed()
        results = {}
        for name, target in (("direct", direct), ("floor", fl), ("gateway", gw)):
            results[name] = await closed_loop(target.url, target.headers, target.body, args.seconds, 1)
        return results
    await open_loop_interleaved([fl, gw], 1.0, args.rate)
    warmed()
    # Half the time in each order: a call that follows the other server's call meets caches that
    # server has just used, and measured in one order only, that would show as a difference of ~0.05 ms.
    d1, f1, g1 = await open_loop_interleaved([direct, fl, gw], args.seconds / 2, args.rate)
    d2, g2, f2 = await open_loop_interleaved([direct, gw, fl], args.seconds / 2, args.rate)
    return {"direct": _merged(d1, d2), "floor": _merged(f1, f2), "gateway": _merged(g1, g2)}


def _merged(a: LoadResult, b: LoadResult) -> LoadResult:
    return LoadResult(a.latencies_ms + b.latencies_ms, errors=a.errors + b.errors, elapsed_s=a.elapsed_s + b.elapsed_s)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200.0, help="requests/s to each of direct, floor, gateway (200)")
    parser.add_argument("--seconds", type=float, default=8.0, help="length of the measured load (8)")
    parser.add_argument("--hot", action="store_true", help="one call at a time, back to back, instead of --rate")
    args = parser.parse_args(argv)
    if args.rate <= 0 or args.seconds <= 0:
        parser.error("--rate and --seconds must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    out_dir = Path(tempfile.mkdtemp(prefix="polyroute-stages-"))
    probe = str(ROOT / "scripts/stage_probe")
    pythonpath = os.pathsep.join(p for p in (probe, os.environ.get("PYTHONPATH", "")) if p)
    paths = {"gateway": out_dir / "gateway.txt", "floor": out_dir / "floor.txt"}
    try:
        gateway = start(1, extra_env={"PYTHONPATH": pythonpath, "POLYROUTE_STAGE_PROBE": str(paths["gateway"])})
        floor = start(
            1,
            floor=True,
            upstream_of=gateway,  # one upstream for all three, as warm for each
            extra_env={
                "PYTHONPATH": pythonpath,
                "POLYROUTE_STAGE_PROBE": str(paths["floor"]),
                "POLYROUTE_STAGE_PROBE_FLOOR": "1",
            },
        )
        servers = {"gateway": (gateway, GATEWAY_STAGES), "floor": (floor, FLOOR_STAGES)}
        skip: dict[str, int] = {}

        def warmed() -> None:  # the warm-up's stamps are left out
            skip.update({name: len(read_stamps(procs, paths[name])) for name, (procs, _) in servers.items()})

        results = asyncio.run(load(gateway, floor, args, warmed))
        rows: dict[str, Any] = {}
        for name, (procs, stages) in servers.items():
            reqs = requests_from(read_stamps(procs, paths[name])[skip[name] :], stages)
            if not reqs:
                raise RuntimeError(f"no complete request was stamped in the {name}")
            rows[name] = {"requests": len(reqs), "stages": stage_table(reqs, stages)}
    finally:
        stop_all()
    direct = results["direct"].p(50)
    mode = "hot" if args.hot else f"{args.rate:g} req/s"
    for name in ("floor", "gateway"):
        result = results[name]
        row = {
            "scenario": f"stages_{name}",
            "mode": mode,
            "errors": result.errors + results["direct"].errors,
            "direct_p50_ms": round(direct, 3),
            "added_p50_ms": round(result.p(50) - direct, 3),
            **rows[name],
        }
        print(json.dumps(row), flush=True)
    print(f"\nstage (µs, {mode}){'floor p50':>12}{'p90':>8}{'gateway p50':>14}{'p90':>8}")
    for stage, _ in [*GATEWAY_STAGES, ("to_written", "")]:
        cells = []
        for name in ("floor", "gateway"):
            found = rows[name]["stages"].get(stage)
            cells.append((f"{found['p50_us']:.1f}", f"{found['p90_us']:.1f}") if found else ("-", "-"))
        print(f"{stage:<20}{cells[0][0]:>12}{cells[0][1]:>8}{cells[1][0]:>14}{cells[1][1]:>8}")
    print(
        f"added p50 (client side): floor {results['floor'].p(50) - direct:+.3f} ms,"
        f" gateway {results['gateway'].p(50) - direct:+.3f} ms (direct {direct:.3f} ms)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
