"""Run one of the scripts/bench*.py tools the way a developer does and read back its JSON rows."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from tests.gateway_process import ROOT

__all__ = ["run_bench_script"]


def run_bench_script(args: list[str], timeout: float) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    """The finished process (asserted to have exited 0) and its JSON lines by `scenario`."""
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows: dict[str, Any] = {}
    for line in proc.stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            rows[row["scenario"]] = row
    return proc, rows
