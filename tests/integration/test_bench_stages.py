"""scripts/bench_stages.py: a short run so it never rots, and how it groups stamps into requests.

Behaviour only, never speed: every stage of both servers is stamped and measured, no call fails.
"""

from __future__ import annotations

from scripts.bench_stages import FLOOR_STAGES, GATEWAY_STAGES, requests_from
from tests.bench_script import run_bench_script


def test_a_short_run_times_every_stage_of_the_gateway_and_the_floor() -> None:
    proc, rows = run_bench_script(["scripts/bench_stages.py", "--rate", "40", "--seconds", "2"], timeout=120)
    assert set(rows) == {"stages_gateway", "stages_floor"}
    for name, stages in (("stages_gateway", GATEWAY_STAGES), ("stages_floor", FLOOR_STAGES)):
        row = rows[name]
        assert row["errors"] == 0 and row["mode"] == "40 req/s", row
        # 80 calls each; a call that overlapped another in the same server is left out, most do not.
        assert 40 <= row["requests"] <= 80, row
        measured = row["stages"]
        assert list(measured) == [stage for stage, _ in stages] + ["to_written"]
        for stage, figures in measured.items():
            assert 0 < figures["p50_us"] <= figures["p90_us"], (name, stage, figures)
        caller_side = [f["p50_us"] for stage, f in measured.items() if stage not in ("after", "to_written")]
        assert measured["to_written"]["p50_us"] >= max(caller_side)
    # The gateway's own stages exist only there; the pipeline's accounting runs after the write.
    assert {"prelude", "admit", "read"} <= set(rows["stages_gateway"]["stages"])
    assert not {"prelude", "admit", "read"} & set(rows["stages_floor"]["stages"])
    assert "added p50 (client side)" in proc.stdout


def _stamps(*names: str) -> list[tuple[str, int]]:
    return [(name, i * 1000) for i, name in enumerate(names)]


def test_requests_are_cut_at_each_arrival_and_overlapping_ones_left_out() -> None:
    stages = [("intake", "app"), ("write", "written"), ("after", "done")]
    whole = ["arrive", "app", "written", "done"]
    # A request whose bytes came in two reads: the second `arrive` belongs to it, not a new one.
    two_reads = ["arrive", "arrive", "app", "written", "done"]
    # Two requests in flight at once: neither is kept, their stamps interleave.
    overlapped = ["arrive", "app", "arrive", "app", "written", "done", "written", "done"]
    reqs = requests_from(_stamps(*whole, *overlapped, *whole, "arrive", "app"), stages)
    assert len(reqs) == 2  # the two whole ones; the pair overlapped, the last never finished
    assert [r["done"] - r["arrive"] for r in reqs] == [3000, 3000]
    [one] = requests_from(_stamps(*two_reads), stages)
    assert one["app"] - one["arrive"] == 2000  # timed from the first read
