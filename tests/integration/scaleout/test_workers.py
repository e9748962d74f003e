"""`polyroute serve --workers N`: every worker is a process of its own, so what one generates on first
start, the others must share. Without POLYROUTE_SECRET_KEY the key file in the data dir is that
thing: two workers creating it at once used to kill one of them, which shut the whole server down.
"""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from app.catalog.secrets import SecretBox
from tests.gateway_process import start_gateway
from tests.integration.scaleout.conftest import wait_for


def test_a_key_file_made_by_another_process_meanwhile_is_adopted(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lost race, made deterministic: the file appears between this process's check and its create."""
    theirs = SecretBox.from_settings(None, str(tmp_path))  # the sibling worker that won
    token = theirs.encrypt("made by the other worker")
    monkeypatch.setattr(Path, "exists", lambda self: False)  # we looked just before it appeared
    ours = SecretBox.from_settings(None, str(tmp_path))
    monkeypatch.undo()
    assert ours.decrypt(token) == "made by the other worker"
    key = tmp_path / "polyroute.secret"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["polyroute.secret"]  # no temporary file left behind


def test_a_first_start_with_two_workers_and_no_secret_key_serves(tmp_path: Path) -> None:
    gw = start_gateway(tmp_path, None, extra_args=["--workers", "2"])
    try:
        wait_for(lambda: len(gw.worker_pids()) == 2, 20, "both workers started")
        with httpx.Client(base_url=gw.base_url, timeout=5) as http:
            for _ in range(10):
                assert http.get("/readyz").status_code == 200
        assert gw.alive()
        assert "Unexpected exit" not in gw.log()
        # SQLite without Redis: limits in process memory, so per worker; serve says so.
        assert "counted in each of the 2 worker processes separately" in gw.log()
    finally:
        assert gw.stop() == 0
