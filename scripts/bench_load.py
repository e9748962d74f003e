"""Load generation for scripts/bench.py: closed loop, open loop (fixed rate), and streams."""

from __future__ import annotations

import asyncio
import re
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import msgspec

__all__ = [
    "LoadResult",
    "Target",
    "closed_loop",
    "open_loop",
    "open_loop_interleaved",
    "stream_run",
    "stream_run_interleaved",
]


def _loopback_only(url: str) -> None:
    if urlsplit(url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        raise SystemExit(f"refusing to load a non-loopback target: {url}")


_GATEWAY_DUR = re.compile(r"gateway;dur=([0-9.]+)")


@dataclass
class LoadResult:
    latencies_ms: list[float] = field(default_factory=list)
    ttfts_ms: list[float] = field(default_factory=list)
    self_ms: list[float] = field(default_factory=list)
    """The gateway's own time per request, from its Server-Timing header (empty for direct calls)."""
    errors: int = 0
    elapsed_s: float = 0.0

    @property
    def count(self) -> int:
        return len(self.latencies_ms)

    @property
    def rps(self) -> float:
        return self.count / self.elapsed_s if self.elapsed_s else 0.0

    @staticmethod
    def _pct(values: list[float], q: float) -> float:
        if not values:
            return float("nan")
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]

    def p(self, q: float) -> float:
        return self._pct(self.latencies_ms, q)

    def ttft(self, q: float) -> float:
        return self._pct(self.ttfts_ms, q)

    def self_time(self, q: float) -> float:
        return self._pct(self.self_ms, q)


@dataclass(frozen=True)
class Target:
    url: str
    headers: dict[str, str]
    body: dict[str, Any]
    end: bytes = b"[DONE]"  # what the last line of a stream carries


def _session(limit: int) -> aiohttp.ClientSession:
    return aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=limit, limit_per_host=limit),
        # No total deadline: held streams last as long as the scenario says; a silent socket still fails.
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=30, sock_read=60),
    )


async def _one(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str], body: bytes, result: LoadResult
) -> None:
    start = time.perf_counter()
    try:
        async with session.post(url, data=body, headers={**headers, "content-type": "application/json"}) as resp:
            await resp.read()
            ok = resp.status == 200
            timing = resp.headers.get("server-timing")
    except (TimeoutError, aiohttp.ClientError):
        ok = False
    if ok:
        result.latencies_ms.append((time.perf_counter() - start) * 1000)
        found = _GATEWAY_DUR.search(timing) if timing else None
        if found:
            result.self_ms.append(float(found.group(1)))
    else:
        result.errors += 1


async def closed_loop(
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    seconds: float,
    concurrency: int,
    max_requests: int | None = None,
) -> LoadResult:
    """`concurrency` workers, each sending its next request as soon as the last returns, until
    `seconds` have passed or `max_requests` have been sent, whichever comes first."""
    _loopback_only(url)
    payload = msgspec.json.encode(body)
    result = LoadResult()
    budget = [max_requests if max_requests is not None else -1]
    async with _session(concurrency) as session:
        start = time.perf_counter()
        deadline = start + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline and budget[0] != 0:
                budget[0] -= 1
                await _one(session, url, headers, payload, result)

        await asyncio.gather(*(worker() for _ in range(concurrency)))
        result.elapsed_s = time.perf_counter() - start
    return result


async def open_loop(url: str, headers: dict[str, str], body: dict[str, Any], seconds: float, rate: float) -> LoadResult:
    """Requests start on a fixed schedule whatever the latency (no coordinated omission)."""
    return (await open_loop_interleaved([Target(url, headers, body)], seconds, rate))[0]


async def open_loop_interleaved(targets: list[Target], seconds: float, rate: float) -> list[LoadResult]:
    """`rate` requests/s to each target, on one fixed schedule that alternates between them.

    Measured one after the other, the two halves of a comparison see different machines when the
    machine drifts (a shared VM does, within seconds); interleaved, both see the same moments.
    """
    for target in targets:
        _loopback_only(target.url)
    payloads = [msgspec.json.encode(t.body) for t in targets]
    results = [LoadResult() for _ in targets]
    total = int(seconds * rate) * len(targets)
    pace = rate * len(targets)
    async with _session(1024) as session:
        start = time.perf_counter()
        tasks = []
        for i in range(total):
            delay = start + i / pace - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            n = i % len(targets)
            one = _one(session, targets[n].url, targets[n].headers, payloads[n], results[n])
            tasks.append(asyncio.create_task(one))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - start
    for result in results:
        result.elapsed_s = elapsed
    return results


async def stream_run(
    url: str,
    headers: dict[str, str],
    body: dict[str, Any],
    count: int,
    concurrency: int,
    *,
    chunks: int,
    end: bytes,
) -> LoadResult:
    """`count` streams, `concurrency` at a time: time to the first content token and to the end.

    A stream counts as served only when it is 200, carries the first and the last of its `chunks`
    tokens and ends with `end` ([DONE] or message_stop); anything else is an error.
    """
    target = Target(url, headers, body, end)
    return (await stream_run_interleaved([target], count, concurrency, chunks=chunks))[0]


async def stream_run_interleaved(
    targets: list[Target], count: int, concurrency: int, *, chunks: int
) -> list[LoadResult]:
    """`count` streams to each target, started alternately, `concurrency` open at a time in all
    (as `open_loop_interleaved`: a comparison whose halves see the same moments of the machine)."""
    for target in targets:
        _loopback_only(target.url)
    payloads = [msgspec.json.encode(t.body) for t in targets]
    first_token, last_token = b"tok0 ", b"tok%d " % (chunks - 1)
    results = [LoadResult() for _ in targets]
    sem = asyncio.Semaphore(concurrency)
    async with _session(concurrency) as session:

        async def one(n: int) -> None:
            target, result = targets[n], results[n]
            async with sem:
                start = time.perf_counter()
                first: float | None = None
                saw_last = saw_end = False
                try:
                    async with session.post(
                        target.url, data=payloads[n], headers={**target.headers, "content-type": "application/json"}
                    ) as resp:
                        async for line in resp.content:
                            if first is None and first_token in line:
                                first = time.perf_counter()
                            saw_last = saw_last or last_token in line
                            saw_end = saw_end or target.end in line
                        ok = resp.status == 200
                except (TimeoutError, aiohttp.ClientError):
                    ok = False
                if ok and first is not None and saw_last and saw_end:
                    result.ttfts_ms.append((first - start) * 1000)
                    result.latencies_ms.append((time.perf_counter() - start) * 1000)
                else:
                    result.errors += 1

        start = time.perf_counter()
        await asyncio.gather(*(one(i % len(targets)) for i in range(count * len(targets))))
        elapsed = time.perf_counter() - start
    for result in results:
        result.elapsed_s = elapsed
    return results
