"""The scenarios of scripts/bench.py. Each runs the direct call to the fake upstream and the same call
through the gateway, back to back in the same run, and returns one row: `metric`, `direct`, `gateway`
and `ratio` (gateway / direct) for the table, plus the details and the gateway's per-core figures.

Stream length, chunk pacing and upstream latency ride in the request body as directives the fake
upstream reads (`bench-chunks=200`), because the gateway forwards the body but not a caller's headers.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

from scripts.bench_load import (
    LoadResult,
    Target,
    closed_loop,
    open_loop,
    open_loop_interleaved,
    stream_run,
    stream_run_interleaved,
)
from scripts.bench_procs import KEY, Procs, ProcStats, proc_stats, tree

__all__ = ["hold_streams", "latency", "memory", "streaming", "throughput"]

T = TypeVar("T")
Row = dict[str, Any]
PROMPT = "Say hello in five words."
FIRST_TOKEN_GAP_MS = 5


def _chat(model: str, directives: str = "", stream: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": f"{PROMPT} {directives}"}]}
    if stream:
        body["stream"] = True
    return body


def _pair(p: Procs, directives: str = "", stream: bool = False, translated: bool = False) -> tuple[Target, Target]:
    """The direct call and the gateway call that should produce the same answer."""
    up, gw = f"http://127.0.0.1:{p.upstream_port}", f"http://127.0.0.1:{p.gateway_port}"
    via_headers = {"Authorization": f"Bearer {KEY}"}
    if translated:  # OpenAI client -> gateway -> Anthropic upstream; the baseline speaks Anthropic directly
        direct_body = {**_chat("claude-fast", directives, stream), "max_tokens": 256}
        direct_headers = {"x-api-key": "sk-ant-upstream", "anthropic-version": "2023-06-01"}
        direct = Target(f"{up}/v1/messages", direct_headers, direct_body, b"message_stop")
        return direct, Target(
            f"{gw}/v1/chat/completions", via_headers, _chat("route/bench-translated", directives, stream)
        )
    direct = Target(
        f"{up}/v1/chat/completions", {"Authorization": "Bearer sk-upstream"}, _chat("gpt-fast", directives, stream)
    )
    return direct, Target(f"{gw}/v1/chat/completions", via_headers, _chat("fake/gpt-fast", directives, stream))


@dataclass
class Sampler:
    """Peak RSS of the gateway's processes, sampled every `every` seconds while a load runs."""

    p: Procs
    every: float = 0.2
    peak_total_mb: float = 0.0
    peak_workers_mb: list[float] = field(default_factory=list)

    def sample(self, pids: list[int]) -> ProcStats:
        stats = proc_stats(self.p.gateway.pid, pids)
        self.peak_total_mb = max(self.peak_total_mb, stats.total_mb)
        if len(self.peak_workers_mb) < len(stats.workers_mb):
            self.peak_workers_mb += [0.0] * (len(stats.workers_mb) - len(self.peak_workers_mb))
        self.peak_workers_mb = [max(a, b) for a, b in zip(self.peak_workers_mb, stats.workers_mb, strict=False)]
        return stats

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[Sampler]:
        pids = tree(self.p.gateway.pid)

        async def loop() -> None:
            while True:
                self.sample(pids)
                await asyncio.sleep(self.every)

        task = asyncio.create_task(loop())
        try:
            yield self
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            self.sample(pids)

    def as_dict(self) -> Row:
        return {
            "peak_rss_total_mb": round(self.peak_total_mb, 1),
            "peak_rss_workers_mb": [round(mb, 1) for mb in self.peak_workers_mb],
        }


async def _through_gateway(p: Procs, load: Awaitable[T]) -> tuple[T, ProcStats, float]:
    """Run `load` against the gateway: its result, the gateway's figures at the end, CPU seconds spent."""
    cpu0 = proc_stats(p.gateway.pid).cpu_s
    result = await load
    stats = proc_stats(p.gateway.pid)
    return result, stats, stats.cpu_s - cpu0


def _row(
    name: str,
    metric: str,
    direct: float,
    gateway: float,
    p: Procs,
    via: LoadResult,
    cpu_s: float,
    stats: ProcStats,
    direct_errors: int,
) -> Row:
    """The shared columns: the headline ratio and the gateway's per-core figures."""
    return {
        "scenario": name,
        "metric": metric,
        "direct": round(direct, 3),
        "gateway": round(gateway, 3),
        "ratio": round(gateway / direct, 3) if direct else None,
        "workers": p.workers,
        "cores": os.cpu_count(),
        "requests": via.count,
        "errors": via.errors,
        "direct_errors": direct_errors,
        "gateway_rps": round(via.rps, 1),
        "rps_per_worker": round(via.rps / p.workers, 1),
        # Requests per CPU-second of all gateway processes: the throughput one saturated core would give.
        "rps_per_core": round(via.count / cpu_s, 1) if cpu_s > 0 else None,
        "cpu_ms_per_request": round(cpu_s / via.count * 1000, 3) if via.count else None,
        **stats.as_dict("rss"),
    }


def _latencies(direct: LoadResult, via: LoadResult) -> Row:
    return {
        "direct_p50_ms": round(direct.p(50), 3),
        "gateway_p50_ms": round(via.p(50), 3),
        "added_p50_ms": round(via.p(50) - direct.p(50), 3),
        "direct_p99_ms": round(direct.p(99), 3),
        "gateway_p99_ms": round(via.p(99), 3),
        "added_p99_ms": round(via.p(99) - direct.p(99), 3),
        # The gateway's own time (its Server-Timing `gateway` figure): what the pipeline costs, without
        # the extra loopback hop and process wake-ups that `added` also holds.
        "gateway_self_p50_ms": round(via.self_time(50), 3) if via.self_ms else None,
        "gateway_self_p99_ms": round(via.self_time(99), 3) if via.self_ms else None,
    }


async def throughput(p: Procs, seconds: float, concurrency: int) -> Row:
    direct_t, via_t = _pair(p)
    await closed_loop(via_t.url, via_t.headers, via_t.body, min(1.0, seconds), concurrency)  # warm up
    direct = await closed_loop(direct_t.url, direct_t.headers, direct_t.body, seconds, concurrency)
    via, stats, cpu = await _through_gateway(p, closed_loop(via_t.url, via_t.headers, via_t.body, seconds, concurrency))
    row = _row(f"tput_c{concurrency}", "rps", direct.rps, via.rps, p, via, cpu, stats, direct.errors)
    return {**row, "concurrency": concurrency, "direct_rps": round(direct.rps, 1), **_latencies(direct, via)}


async def latency(p: Procs, seconds: float, rate: float, upstream_ms: int) -> Row:
    """Added latency at a fixed request rate (open loop), the upstream answering after `upstream_ms`."""
    direct_t, via_t = _pair(p, f"bench-latency-ms={upstream_ms}")
    await open_loop(via_t.url, via_t.headers, via_t.body, min(1.0, seconds), rate)
    (direct, via), stats, cpu = await _through_gateway(p, open_loop_interleaved([direct_t, via_t], seconds, rate))
    row = _row(f"lat_l{upstream_ms}", "p50_ms", direct.p(50), via.p(50), p, via, cpu, stats, direct.errors)
    return {**row, "rate": rate, "upstream_latency_ms": upstream_ms, **_latencies(direct, via)}


def _stream_figures(direct: LoadResult, via: LoadResult) -> Row:
    return {
        "direct_ttft_p50_ms": round(direct.ttft(50), 3),
        "gateway_ttft_p50_ms": round(via.ttft(50), 3),
        "added_ttft_p50_ms": round(via.ttft(50) - direct.ttft(50), 3),
        "added_ttft_p99_ms": round(via.ttft(99) - direct.ttft(99), 3),
        "direct_total_p50_ms": round(direct.p(50), 3),
        "gateway_total_p50_ms": round(via.p(50), 3),
        "added_total_p50_ms": round(via.p(50) - direct.p(50), 3),
        "added_total_p99_ms": round(via.p(99) - direct.p(99), 3),
        "total_ratio": round(via.p(50) / direct.p(50), 3) if direct.p(50) else None,
    }


async def streaming(p: Procs, count: int, chunks: int, translated: bool, concurrency: int = 4) -> Row:
    """Time to first token and to the end of `count` streams of `chunks` chunks."""
    # The upstream pauses after the first token, so that time to first token is not the time to parse
    # the burst of every other chunk (which a 0 ms upstream sends in one go); the pause is in both totals.
    directives = f"bench-chunks={chunks} bench-gap-ms={FIRST_TOKEN_GAP_MS}"
    direct_t, via_t = _pair(p, directives, stream=True, translated=translated)

    def run(t: Target, n: int) -> Awaitable[LoadResult]:
        return stream_run(t.url, t.headers, t.body, n, concurrency, chunks=chunks, end=t.end)

    await run(via_t, max(4, count // 5))
    both = stream_run_interleaved([direct_t, via_t], count, concurrency, chunks=chunks)
    (direct, via), stats, cpu = await _through_gateway(p, both)
    name = f"stream_{'translated' if translated else 'same'}_{chunks}"
    row = _row(name, "ttft_p50_ms", direct.ttft(50), via.ttft(50), p, via, cpu, stats, direct.errors)
    return {
        **row,
        "chunks": chunks,
        "first_token_gap_ms": FIRST_TOKEN_GAP_MS,
        "dialects": "openai->anthropic" if translated else "openai->openai",
        **_stream_figures(direct, via),
    }


_BACKLOG = re.compile(r"^polyroute_usage_(queue_depth|spool_pending)\S* ([0-9.e+]+)$", re.M)


async def usage_backlog(p: Procs) -> int:
    """Usage events the gateway holds but has not written yet (queue and journal, every worker)."""
    async with httpx.AsyncClient() as client:
        text = (await client.get(f"http://127.0.0.1:{p.gateway_port}/metrics", timeout=10)).text
    return int(sum(float(value) for _, value in _BACKLOG.findall(text)))


async def memory(p: Procs, total: int, concurrency: int, max_seconds: float, settle_s: float = 2.0) -> Row:
    """RSS after a warm-up, its peak under load, and after `total` requests: growth past warm-up is a leak.

    Both readings come `settle_s` after their load stops, once the usage writer has flushed what the
    load queued, so that they compare like with like."""
    direct_t, via_t = _pair(p)
    warm = max(200, total // 10)
    warm_run = await closed_loop(via_t.url, via_t.headers, via_t.body, max_seconds, concurrency, warm)
    await asyncio.sleep(settle_s)
    warm_stats = proc_stats(p.gateway.pid)
    # The baseline is bounded: the fake upstream alone is fast, and its rate is all the ratio needs.
    direct = await closed_loop(
        direct_t.url, direct_t.headers, direct_t.body, max_seconds, concurrency, min(total, 20_000)
    )
    sampler = Sampler(p)
    async with sampler.running():
        load = closed_loop(via_t.url, via_t.headers, via_t.body, max_seconds, concurrency, total - warm)
        via, _, cpu = await _through_gateway(p, load)
    backlog = await usage_backlog(p)  # a writer slower than the load would show here, and in RSS
    began = time.monotonic()
    await asyncio.sleep(settle_s)
    end_stats = proc_stats(p.gateway.pid)
    settled = await usage_backlog(p)  # one flush interval (1 s) later the writer has caught up, or not
    drained = settled
    while drained and time.monotonic() - began < 15:
        await asyncio.sleep(0.1)
        drained = await usage_backlog(p)
    drain_s = round(time.monotonic() - began, 1)
    row = _row("mem", "rps", direct.rps, via.rps, p, via, cpu, end_stats, direct.errors)
    growth = [round(b - a, 1) + 0.0 for a, b in zip(warm_stats.workers_mb, end_stats.workers_mb, strict=False)]
    return {
        **row,
        "errors": via.errors + warm_run.errors,
        "requests": via.count + warm_run.count,
        "requests_planned": total,
        **warm_stats.as_dict("rss_after_warmup"),
        **sampler.as_dict(),
        "rss_growth_total_mb": round(end_stats.total_mb - warm_stats.total_mb, 1) + 0.0,  # never "-0.0"
        "rss_growth_workers_mb": growth,
        "usage_backlog_at_end": backlog,
        "usage_backlog_after_settle": settled,
        "usage_drain_s": drain_s if not drained else None,
    }


async def hold_streams(p: Procs, streams: int, seconds: float) -> Row:
    """`streams` slow streams open at once for about `seconds`, direct and then through the gateway."""
    chunks = 30
    delay_ms = seconds * 1000 / (chunks + 3)  # the OpenAI stream has chunks + 4 frames, a pause between each
    direct_t, via_t = _pair(p, f"bench-chunks={chunks} bench-delay-ms={delay_ms:.0f}", stream=True)

    def run(t: Target) -> Awaitable[LoadResult]:
        return stream_run(t.url, t.headers, t.body, streams, streams, chunks=chunks, end=t.end)

    direct = await run(direct_t)
    sampler = Sampler(p, every=0.5)
    async with sampler.running():
        via, stats, cpu = await _through_gateway(p, run(via_t))
    row = _row(f"hold_{streams}", "total_p50_ms", direct.p(50), via.p(50), p, via, cpu, stats, direct.errors)
    return {**row, "streams": streams, "hold_s": seconds, **sampler.as_dict(), **_stream_figures(direct, via)}
