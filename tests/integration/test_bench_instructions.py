"""A small run of scripts/bench_instructions.py: valgrind counts the gateway and the bare forwarder.

Instruction counts do not depend on how busy the machine is, so unlike a timing this can hold a
bound: the pipeline's event-loop thread may spend at most 4x what the bare server + upstream client
spend per call (2.4-2.6x when this was written). A database query, a per-request regex compile or
a log call built on the loop would show up here long before anyone measured a latency.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import sys

import pytest

from tests.gateway_process import ROOT


def _closed(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


# Valgrind runs the gateway ~50x slower: about 70 s alone, over 120 s beside the parallel phase's load.
@pytest.mark.timeout(600)
def test_instruction_counts_of_the_gateway_stay_within_a_few_times_the_floor() -> None:
    proc = subprocess.run(
        [sys.executable, "scripts/bench_instructions.py", "--scenarios", "whole", "--requests", "30", "--warmup", "10"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=540,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    assert [row["scenario"] for row in rows] == ["instr_whole"]
    row = rows[0]
    assert row["requests"] == 30
    # Both were counted: the floor's server and client are real work, and the gateway does more.
    assert row["floor_main_k"] > 100, row
    assert row["main_k"] > row["floor_main_k"], row
    assert row["main_ratio"] < 4, row
    assert row["total_k"] == round(row["main_k"] + row["others_k"], 1)
    table = proc.stdout.split("\n\n")[-1].splitlines()
    assert table[0].split()[0] == "scenario" and table[1].split()[0] == "instr_whole"
    # Both servers and their upstreams are gone once it returns.
    ports = re.findall(r"on 127\.0\.0\.1:(\d+), upstream on 127\.0\.0\.1:(\d+)", proc.stderr)
    assert len(ports) == 2, proc.stderr
    assert all(_closed(int(port)) for pair in ports for port in pair)
