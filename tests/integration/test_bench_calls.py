"""scripts/bench_calls.py: a short census so it never rots, and that it counts what a request runs."""

from __future__ import annotations

import pytest

from scripts.bench_calls import GROUPS, group_of, read_census
from scripts.bench_procs import ROOT
from tests.bench_script import run_bench_script


def _per(row: dict[str, object], name: str) -> float:
    functions = row["functions"]
    assert isinstance(functions, dict)
    return sum(v for k, v in functions.items() if k.startswith(f"{name} ("))


def test_a_whole_call_runs_the_parser_once_and_the_groups_add_up() -> None:
    proc, rows = run_bench_script(["scripts/bench_calls.py", "--requests", "20", "--top", "400"], timeout=120)
    row = rows["calls_whole"]
    per = row["per_request"]
    assert row["requests"] == 20 and set(per) == {"total", *GROUPS}
    assert per["total"] == pytest.approx(sum(per[g] for g in GROUPS), abs=0.05)
    assert per["ours"] > 50 and per["c"] > 100 and per["uvicorn"] > 5
    assert _per(row, "parse_chat") == pytest.approx(1.0, abs=0.05)  # one parse per request, no more
    assert _per(row, "authenticate") == pytest.approx(1.0, abs=0.05)
    assert "functions entered per whole call" in proc.stdout


def test_a_stream_relays_each_of_its_frames_once() -> None:
    args = ["scripts/bench_calls.py", "--stream", "--chunks", "5", "--delay-ms", "1", "--requests", "10"]
    _, rows = run_bench_script([*args, "--top", "400"], timeout=120)
    row = rows["calls_stream"]
    # The fake upstream's chat stream: a role frame, the content frames, finish, usage, [DONE].
    assert _per(row, "ChatPassthroughRelay.feed") == pytest.approx(5 + 4, abs=0.05)


def test_census_lines_are_grouped_by_whose_code_ran() -> None:
    text = "\n".join(
        [
            "40\tlen\tC:0",
            f"20\tGateway.handle\t{ROOT}/app/gateway/pipeline.py:91",
            f"10\tcandidates\t{ROOT}/strategies/base.py:5",
            "30\tBaseEventLoop.time\t/usr/lib/python3.11/asyncio/base_events.py:700",
            "10\tEpollSelector.select\t/usr/lib/python3.11/selectors.py:451",
            "10\tHttpToolsProtocol.on_url\t/x/site-packages/uvicorn/protocols/http/httptools_impl.py:239",
            "10\tLogger.isEnabledFor\t/usr/lib/python3.11/logging/__init__.py:1734",
        ]
    )
    totals, rows = read_census(text, requests=10)
    assert totals == {"c": 4.0, "ours": 3.0, "asyncio": 4.0, "uvicorn": 1.0, "other": 1.0}
    assert rows[0] == (4.0, "len", "C:0") and group_of(f"{ROOT}/app/x.py:1") == "ours"
