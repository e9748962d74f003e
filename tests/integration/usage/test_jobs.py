"""The retention job runs under the gateway's scheduler: old request-log rows go, new rows and rollups stay."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.db_backends import BACKENDS, database_url
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import start_gateway
from tests.integration.usage.harness import BODY, KEYS, execute, fetch, usage_config, wait_until


@pytest.mark.parametrize("backend", BACKENDS)
def test_retention_job_prunes_the_request_log(tmp_path: Path, fake_openai: FakeOpenAI, backend: str) -> None:
    env = {"POLYROUTE_USAGE_RETENTION_DAYS": "30", "POLYROUTE_USAGE_RETENTION_INTERVAL_S": "0.5"}
    with database_url(backend, tmp_path / "db") as url:
        gw = start_gateway(tmp_path / "gw", usage_config(fake_openai), env=env, database_url=url)
        try:
            old = datetime.now(UTC) - timedelta(days=31)
            stamp = str(old) if url.startswith("sqlite") else old
            execute(
                url, "INSERT INTO usage_event (id, ts, endpoint, status) VALUES (?, ?, ?, ?)", "old", stamp, "x", 200
            )
            with gw.http() as http:
                ok = http.post("/v1/chat/completions", json=BODY, headers={"Authorization": f"Bearer {KEYS['open']}"})
            assert ok.status_code == 200
            wait_until(
                lambda: [r["id"] for r in fetch(url, "SELECT id FROM usage_event")] == [ok.headers["x-request-id"]]
            )
            assert fetch(url, "SELECT SUM(requests) AS n FROM usage_hourly")[0]["n"] == 1
        finally:
            assert gw.stop() == 0
