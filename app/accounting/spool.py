"""The usage journal: every batch goes to an append-only segment file before the database.

Segments live next to the configured spool path (`usage-spool-<pid>.jsonl.<ns>`), one JSON line
per event. The writer deletes a segment once its events are committed, so after a crash the
files left are exactly what the database may lack; rows are keyed by event id, so writing a
segment twice is harmless. Segments of a process that died (another pid) are adopted by
renaming them, which only one surviving process can win.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

import msgspec

from app.accounting.events import UsageEvent

__all__ = ["Segment", "Spool"]

log = logging.getLogger("polyroute.accounting")

_NAME = re.compile(r"^usage-spool-(\d+)\.jsonl(\.\d+)?(\.tmp)?$")
_decoder = msgspec.json.Decoder(UsageEvent)


@dataclass(slots=True)
class Segment:
    path: Path
    events: list[UsageEvent] | None = None
    """In memory for segments this process wrote while the backlog was small; else read from disk."""
    count: int = 0
    """How many events the segment holds, known once written or loaded."""

    def load(self) -> list[UsageEvent]:
        if self.events is None:
            self.events = read_events(self.path)
            self.count = len(self.events)
        return self.events

    def unload(self) -> None:
        """Forget the events (they are on disk): a backlog must not grow in memory."""
        self.events = None


def read_events(path: Path) -> list[UsageEvent]:
    """Every decodable line; a line torn by a crash mid-write is skipped with a warning."""
    events: list[UsageEvent] = []
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return events
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            events.append(_decoder.decode(line))
        except msgspec.DecodeError:
            log.warning("skipping unreadable line %d of %s", number, path)
    return events


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


class Spool:
    """Segment files for one process; `path` is `<dir>/usage-spool-<pid>.jsonl`."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.dir = self.path.parent
        match = _NAME.match(self.path.name)
        self.pid = int(match.group(1)) if match else os.getpid()
        self._last_ns = 0

    def next_path(self) -> Path:
        stamp = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = stamp
        return self.dir / f"usage-spool-{self.pid}.jsonl.{stamp:020d}"

    def write(self, events: list[UsageEvent], final: Path) -> Segment:
        """Blocking (run it in a thread): write, fsync, then rename into place, so readers never see half a file."""
        tmp = final.with_name(final.name + ".tmp")
        self.dir.mkdir(parents=True, exist_ok=True)
        with tmp.open("wb") as handle:
            handle.write(b"".join(msgspec.json.encode(e) + b"\n" for e in events))
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, final)
        return Segment(final, events, len(events))

    def inherited(self, own: set[Path]) -> list[Segment]:
        """Segments on disk that nobody alive is writing, claimed by renaming them to this process.

        That is: a dead process's segments (a torn `.tmp` included), and this pid's segments that
        are not in `own` (a previous process with the same pid, as after a container restart).
        """
        found: list[Segment] = []
        for path in sorted(self.dir.glob("usage-spool-*.jsonl*")):
            match = _NAME.match(path.name)
            if match is None or path in own:
                continue
            pid, is_tmp = int(match.group(1)), match.group(3) is not None
            if pid == self.pid and is_tmp:
                continue  # possibly this process's segment in the making
            if pid != self.pid and _alive(pid):
                continue
            claimed = self.next_path()
            with contextlib.suppress(FileNotFoundError):  # another survivor claimed it first
                os.rename(path, claimed)
                found.append(Segment(claimed))
        return found

    def remove_all(self, segments: list[Segment]) -> None:
        """Blocking (run it in a thread): delete committed segments."""
        for segment in segments:
            with contextlib.suppress(FileNotFoundError):
                segment.path.unlink()
