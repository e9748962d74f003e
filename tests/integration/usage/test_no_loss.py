"""Nothing lost: SIGTERM flushes everything, a database outage mid-run is bridged by the spool,
and a SIGKILL loses at most the last flush interval. Counts are checked against what clients received."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx
import pytest

from tests.db_backends import BACKENDS, database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import BODY, KEYS, fetch, run_async, usage_config, wait_until

FLUSH_S = 0.2
"""tests/gateway_process sets POLYROUTE_USAGE_FLUSH_INTERVAL_S=0.2."""
JITTER_S = 0.4
"""Scheduler lag and the journal's own write on a busy CI machine."""


@pytest.fixture(params=BACKENDS)
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with database_url(str(request.param), tmp_path / "db") as url:
        yield url


def rows(url: str) -> tuple[int, int]:
    """(request-log rows, requests in the hourly rollup)."""
    events = fetch(url, "SELECT COUNT(*) AS n FROM usage_event")[0]["n"]
    rolled = fetch(url, "SELECT COALESCE(SUM(requests), 0) AS n FROM usage_hourly")[0]["n"]
    return int(events), int(rolled)


@dataclass
class Traffic:
    """Client threads calling the gateway until stopped; every response received is counted."""

    gw: GatewayProcess
    threads: int = 4
    received: int = 0
    failures: list[str] = field(default_factory=list)
    finished_at: list[float] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _workers: list[threading.Thread] = field(default_factory=list)

    def _run(self, index: int) -> None:
        with self.gw.http() as http:
            n = 0
            while not self._stop.is_set():
                n += 1
                body = {**BODY, "model": "fakeai/fake-400"} if n % 10 == 0 else BODY  # some refused upstream
                try:
                    http.post("/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEYS['open']}"})
                except httpx.HTTPError as exc:
                    self.failures.append(repr(exc))
                    return
                with self._lock:
                    self.received += 1
                    self.finished_at.append(time.monotonic())

    def __enter__(self) -> Traffic:
        self._workers = [threading.Thread(target=self._run, args=(i,)) for i in range(self.threads)]
        for worker in self._workers:
            worker.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for worker in self._workers:
            worker.join(30)


def test_sigterm_flushes_everything(tmp_path: Path, fake_openai: FakeOpenAI, db_url: str) -> None:
    env = {"POLYROUTE_USAGE_FLUSH_INTERVAL_S": "3600"}  # nothing leaves on the timer: only the shutdown flush
    gw = start_gateway(tmp_path / "gw", usage_config(fake_openai), env=env, database_url=db_url)
    with Traffic(gw, threads=2) as traffic:
        wait_until(lambda: traffic.received >= 60)
    assert rows(db_url) == (0, 0)
    assert gw.stop(signal.SIGTERM) == 0
    assert not traffic.failures
    assert rows(db_url) == (traffic.received, traffic.received)
    assert not list(gw.data_dir.glob("usage-spool-*"))


def _hold_database_down(url: str, seconds: float) -> Callable[[], None]:
    """Make the database refuse the gateway for `seconds`, in a thread; returns a join()."""
    if url.startswith("sqlite"):

        def outage() -> None:
            conn = sqlite3.connect(url[len("sqlite:///") :], timeout=30, isolation_level=None)
            conn.execute("BEGIN EXCLUSIVE")  # every other connection waits, readers too
            time.sleep(seconds)
            conn.execute("ROLLBACK")
            conn.close()

    else:
        import asyncpg

        name = url.rsplit("/", 1)[1]

        async def sql(statement: str) -> None:
            conn = await asyncpg.connect(url.rsplit("/", 1)[0] + "/postgres")
            try:
                await conn.execute(statement)
            finally:
                await conn.close()

        def outage() -> None:
            run_async(sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            run_async(sql(f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"))
            time.sleep(seconds)
            run_async(sql(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))

    thread = threading.Thread(target=outage)
    thread.start()
    return lambda: thread.join(60)


def test_database_outage_mid_run_loses_nothing(tmp_path: Path, fake_openai: FakeOpenAI, db_url: str) -> None:
    gw = start_gateway(tmp_path / "gw", usage_config(fake_openai), database_url=db_url)
    try:
        with Traffic(gw) as traffic:
            wait_until(lambda: traffic.received >= 50)
            join = _hold_database_down(db_url, 2.5)
            time.sleep(0.8)
            segments, during = len(list(gw.data_dir.glob("usage-spool-*"))), traffic.received
            time.sleep(1.0)
            # Whether the writer's transaction fails (Postgres refusing) or waits (SQLite locked), the
            # journal keeps moving events to disk: unwritten segments pile up instead of being deleted.
            assert len(list(gw.data_dir.glob("usage-spool-*"))) >= segments + 2 >= 3
            join()
            assert traffic.received > during  # requests kept being served while the database was away
            time.sleep(0.5)
        assert not traffic.failures
        wait_until(lambda: rows(db_url) == (traffic.received, traffic.received), timeout=15)
        wait_until(lambda: not list(gw.data_dir.glob("usage-spool-*")), timeout=5)
    finally:
        assert gw.stop() == 0


def _worker_pid(gw: GatewayProcess) -> int:
    found = gw.worker_pids()
    assert len(found) == 1, (found, gw.log())
    return found[0]


def test_sigkill_loses_at_most_the_last_flush_interval(tmp_path: Path, fake_openai: FakeOpenAI, db_url: str) -> None:
    gw = start_gateway(tmp_path / "gw", usage_config(fake_openai), database_url=db_url)
    with Traffic(gw, threads=2) as traffic:
        wait_until(lambda: traffic.received >= 150)
        os.kill(_worker_pid(gw), signal.SIGKILL)  # the process holding the queue, then its parent
        killed_at = time.monotonic()
        gw.stop(signal.SIGKILL)
    settled = sum(1 for t in traffic.finished_at if t < killed_at - FLUSH_S - JITTER_S)
    # Restarting on the same data directory adopts the dead process's spool segments and writes them.
    again = start_gateway(tmp_path / "gw", None, database_url=db_url)
    try:
        wait_until(lambda: not list(again.data_dir.glob("usage-spool-*")), timeout=10)
        stored, rolled = rows(db_url)
        assert stored == rolled
        assert settled <= stored <= traffic.received + 2, (settled, stored, traffic.received)
        lost = traffic.received - stored
        print(f"SIGKILL: {traffic.received} answered, {stored} stored, {lost} lost (flush interval {FLUSH_S}s)")
    finally:
        again.stop()


@pytest.mark.postgres
def test_a_database_that_hangs_at_shutdown_delays_the_exit_but_loses_nothing(
    tmp_path: Path, fake_openai: FakeOpenAI
) -> None:
    """SIGTERM while another session holds the request log locked: the final flush cannot finish,
    yet the gateway exits within its bounds (drain + a few seconds), and the journal it leaves is
    written by the next start."""
    with database_url("postgres", tmp_path / "db") as url:
        env = {"POLYROUTE_USAGE_FLUSH_INTERVAL_S": "3600", "POLYROUTE_DRAIN_TIMEOUT_S": "2"}  # shutdown flush only
        gw = start_gateway(tmp_path / "gw", usage_config(fake_openai), env=env, database_url=url)
        with Traffic(gw, threads=2) as traffic:
            wait_until(lambda: traffic.received >= 30)
        assert not traffic.failures

        async def hold_lock_until(released: threading.Event) -> None:
            conn = await asyncpg.connect(url)
            try:
                async with conn.transaction():
                    await conn.execute("LOCK TABLE usage_event IN ACCESS EXCLUSIVE MODE")
                    locked.set()
                    while not released.is_set():
                        await asyncio.sleep(0.05)
            finally:
                await conn.close()

        locked, released = threading.Event(), threading.Event()
        holder = threading.Thread(target=run_async, args=(hold_lock_until(released),))
        holder.start()
        try:
            assert locked.wait(10)
            began = time.monotonic()
            code = gw.stop(signal.SIGTERM, timeout=40)
            took = time.monotonic() - began
        finally:
            released.set()
            holder.join(20)
        assert code == 0, gw.log()[-3000:]
        assert took < 20, took  # without the bounds it waited for the lock for as long as it was held
        assert "the final usage flush did not finish" in gw.log()
        assert rows(url) == (0, 0)
        assert list(gw.data_dir.glob("usage-spool-*"))  # the journal kept every event
        again = start_gateway(tmp_path / "gw", None, database_url=url)
        try:
            wait_until(lambda: rows(url) == (traffic.received, traffic.received), timeout=15)
        finally:
            assert again.stop() == 0
