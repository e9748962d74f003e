"""POLYROUTE_SECRET_KEY is the one setting replicas must share: a replica without it says so at start,
and one holding another key names the provider credentials it cannot decrypt (instead of silently
calling upstream without them)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import start_gateway
from tests.integration.scaleout.conftest import SECRET_KEY
from tests.integration.usage.harness import usage_config

pytestmark = pytest.mark.postgres


def test_a_replica_with_its_own_secret_key_is_loud_about_it(
    tmp_path: Path, fake_openai: FakeOpenAI, postgres_url: str
) -> None:
    first = start_gateway(
        tmp_path / "a", usage_config(fake_openai), env={"POLYROUTE_SECRET_KEY": SECRET_KEY}, database_url=postgres_url
    )
    try:
        assert "POLYROUTE_SECRET_KEY is unset" not in first.log()
        stray = start_gateway(tmp_path / "b", None, database_url=postgres_url)  # generates a key of its own
        stray.stop()
    finally:
        first.stop()
    log = stray.log()
    assert "POLYROUTE_SECRET_KEY is unset" in log
    assert "cannot decrypt the credential of provider 'fakeai'" in log
    assert "cannot decrypt" not in first.log()
