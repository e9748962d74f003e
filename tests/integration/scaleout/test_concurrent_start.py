"""Replicas starting together on one Postgres database: they migrate and apply the config file in turns.

`polyroute serve` migrates and then applies the config file as select-then-insert upserts before
its workers start. A Deployment rolling out several pods runs that at the same moment on every
replica; without the start-up lock two of them insert the same provider and one dies on a unique
violation. Here several processes prepare the same database at the same instant.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import ROOT
from tests.integration.scaleout.conftest import SECRET_KEY
from tests.integration.usage.harness import fetch, usage_config

pytestmark = pytest.mark.postgres

PROCESSES = 6

_PREPARE = """
import asyncio, os, sys, time
from pathlib import Path
from app.cli import _load, _prepare
from app.settings import load_settings
settings = load_settings(os.environ)
config = _load(settings)
barrier, count = Path(sys.argv[1]), int(sys.argv[2])
(barrier / str(os.getpid())).touch()
while len(list(barrier.iterdir())) < count:  # every process imported: go together
    time.sleep(0.002)
asyncio.run(_prepare(settings, config))
"""


def _config(fake: FakeOpenAI, reverse: bool) -> dict[str, Any]:
    """The usage config with many plans: half the processes apply them in reverse, so their upserts
    cross in the middle instead of one trailing the other (the race needs them on the same row)."""
    config = usage_config(fake)
    config["plans"] += [{"name": f"bulk-{i:03d}", "models": ["*"], "rpm": i + 1} for i in range(60)]
    if reverse:
        config["plans"].reverse()
    return config


def test_replicas_preparing_one_database_at_once_all_succeed(
    tmp_path: Path, fake_openai: FakeOpenAI, postgres_url: str
) -> None:
    base = {
        "PATH": os.environ.get("PATH", ""),
        "POLYROUTE_DATABASE_URL": postgres_url,
        "POLYROUTE_SECRET_KEY": SECRET_KEY,
    }
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = []
    for i in range(PROCESSES):
        config = tmp_path / f"polyroute-{i}.yaml"
        config.write_text(yaml.safe_dump(_config(fake_openai, reverse=i % 2 == 1), sort_keys=False))
        env = {**base, "POLYROUTE_CONFIG": str(config), "POLYROUTE_DATA_DIR": str(tmp_path / f"data-{i}")}
        args = [sys.executable, "-c", _PREPARE, str(barrier), str(PROCESSES)]
        procs.append(subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
    outputs = [p.communicate(timeout=60)[0].decode(errors="replace") for p in procs]
    failed = [out for p, out in zip(procs, outputs, strict=True) if p.returncode != 0]
    assert not failed, failed[0][-2000:]
    plans = fetch(postgres_url, "SELECT COUNT(*) AS n, COUNT(DISTINCT name) AS d FROM plan")
    assert plans == [{"n": 66, "d": 66}]
    providers = fetch(postgres_url, "SELECT name FROM provider_config")
    assert providers == [{"name": "fakeai"}]
    keys = fetch(postgres_url, "SELECT COUNT(*) AS n FROM api_key WHERE source = 'config'")
    assert keys == [{"n": len(usage_config(fake_openai)["api_keys"])}]
