"""POLYROUTE_SECRET_KEY is the one setting replicas must share: a replica without it says so at start,
and one holding another key names the provider credentials it cannot decrypt (instead of silently
calling upstream without them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.integration.scaleout.conftest import start_replicas, wait_for
from tests.integration.usage.harness import usage_config

pytestmark = pytest.mark.postgres


def test_a_replica_with_its_own_secret_key_is_loud_about_it(
    tmp_path: Path, fake_openai: FakeOpenAI, postgres_url: str
) -> None:
    config = usage_config(fake_openai)
    pair = start_replicas(tmp_path, config, database_url=postgres_url, env_b={"POLYROUTE_SECRET_KEY": ""})
    try:  # B generates a key of its own (an empty variable counts as unset)
        wait_for(lambda: "cannot decrypt the credential of provider 'fakeai'" in pair.b.log(), 5, "B's error")
    finally:
        pair.stop()
    assert "POLYROUTE_SECRET_KEY is unset" in pair.b.log()
    for message in ("POLYROUTE_SECRET_KEY is unset", "cannot decrypt"):
        assert message not in pair.a.log()
