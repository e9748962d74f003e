"""Spool segments: written whole, torn lines skipped, a dead process's segments adopted, a live one's left."""

from __future__ import annotations

import os
from pathlib import Path

import msgspec
import pytest

from app.accounting.spool import Spool, read_events
from tests.unit.accounting.conftest import event


def dead_pid() -> int:
    pid = 4_000_000
    while True:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return pid
        except PermissionError:
            pass
        pid += 1


def test_segments_round_trip_and_never_show_half_written(tmp_path: Path) -> None:
    spool = Spool(tmp_path / f"usage-spool-{os.getpid()}.jsonl")
    events = [event(), event(status=502, error_code="PROVIDER_ERROR")]
    segment = spool.write(events, spool.next_path())
    assert segment.path.exists() and not list(tmp_path.glob("*.tmp"))
    assert read_events(segment.path) == events
    spool.remove_all([segment])
    assert not segment.path.exists()


def test_a_torn_last_line_is_skipped(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = tmp_path / "usage-spool-1.jsonl.1"
    good = event()
    path.write_bytes(msgspec.json.encode(good) + b"\n" + msgspec.json.encode(event())[:40])
    assert read_events(path) == [good]
    assert "unreadable line 2" in caplog.text


def test_dead_processes_segments_are_adopted_live_ones_are_not(tmp_path: Path) -> None:
    spool = Spool(tmp_path / f"usage-spool-{os.getpid()}.jsonl")
    dead, live = dead_pid(), os.getppid()
    for name in (f"usage-spool-{dead}.jsonl.5", f"usage-spool-{dead}.jsonl.6.tmp", f"usage-spool-{dead}.jsonl"):
        (tmp_path / name).write_bytes(msgspec.json.encode(event()) + b"\n")
    (tmp_path / f"usage-spool-{live}.jsonl.7").write_bytes(msgspec.json.encode(event()) + b"\n")
    (tmp_path / "unrelated.jsonl").write_text("x")
    adopted = spool.inherited(set())
    assert len(adopted) == 3
    assert all(s.path.name.startswith(f"usage-spool-{os.getpid()}.jsonl.") for s in adopted)
    assert sum(len(s.load()) for s in adopted) == 3
    assert (tmp_path / f"usage-spool-{live}.jsonl.7").exists()
    assert spool.inherited({s.path for s in adopted}) == []  # already ours: not adopted twice


def test_a_previous_process_with_the_same_pid_is_inherited(tmp_path: Path) -> None:
    """After a container restart the new process often has the old one's pid."""
    old = Spool(tmp_path / "usage-spool-1.jsonl")
    left = old.write([event()], old.next_path())
    new = Spool(tmp_path / "usage-spool-1.jsonl")
    assert [len(s.load()) for s in new.inherited(set())] == [1]
    assert not left.path.exists()
