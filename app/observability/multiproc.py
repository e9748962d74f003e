"""prometheus_client's multiprocess mode: the shared directory `polyroute serve` sets up for its workers.

This module must not import prometheus_client at import time: the client picks its value
class (in-memory or mmap files) when it is first imported, so the directory has to be in the
environment before that.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import MutableMapping
from pathlib import Path

__all__ = ["MULTIPROC_ENV", "mark_worker_dead", "prepare_multiproc_dir", "remove_multiproc_dir"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def prepare_multiproc_dir(environ: MutableMapping[str, str]) -> tuple[Path, bool]:
    """Point `environ` at an empty metrics directory; returns it and whether we created it (to remove at exit).

    An operator-set PROMETHEUS_MULTIPROC_DIR is used and emptied of the last run's files;
    otherwise a fresh temporary directory is made for this server start.
    """
    given = environ.get(MULTIPROC_ENV)
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        return path, False
    path = Path(tempfile.mkdtemp(prefix="polyroute-metrics-"))
    environ[MULTIPROC_ENV] = str(path)
    return path, True


def remove_multiproc_dir(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def mark_worker_dead(pid: int | None = None) -> None:
    """Drop this worker's live gauges from the shared directory (counters keep counting)."""
    if not os.environ.get(MULTIPROC_ENV):
        return
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid())  # type: ignore[no-untyped-call]  # untyped upstream
