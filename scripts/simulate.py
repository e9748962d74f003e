"""Compare the routing strategies with an oracle on simulated providers: `python scripts/simulate.py`."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

# The repo root goes on sys.path first, so that `python scripts/simulate.py` runs from anywhere.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import strategies
from scripts.sim.engine import SCENARIOS, Scenario, simulate

__all__ = ["main"]

HEADER = f"{'strategy':<26}{'ok':>7}{'p50':>7}{'p95':>7}{'p99':>7}{'$/1k req':>10}{'hedged':>8}{'hedge $':>9}"
HEADER += f"{'plan viol.':>11}  share of traffic"


def run(scenario: Scenario, seed: int) -> list[dict[str, Any]]:
    """Every registered strategy plus the oracle, once per route-params variant of the scenario."""
    rows = []
    for suffix, params in scenario.variants:
        for name in ("oracle", *strategies.available()):
            summary = simulate(scenario, name, params, seed).summary()
            summary["strategy"] = name + suffix
            rows.append(summary)
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def table(scenario: Scenario, rows: Sequence[dict[str, Any]]) -> str:
    lines = [f"== {scenario.name}: {scenario.description} ({scenario.requests} requests)", HEADER]
    for r in rows:
        total = r["mean_cost_usd"] * r["requests"]
        hedge = f"{r['hedge_cost_usd'] / total:.1%}" if total else "-"
        share = "  ".join(f"{k} {v:.0%}" for k, v in r["share"].items())
        lines.append(
            f"{r['strategy']:<26}{r['success_rate']:>7.1%}{_ms(r['p50_ms']):>7}{_ms(r['p95_ms']):>7}"
            f"{_ms(r['p99_ms']):>7}{r['mean_cost_usd'] * 1000:>10.4f}{r['hedged']:>8}{hedge:>9}"
            f"{r['plan_violations']:>11}  {share}"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=2000, help="requests per scenario and strategy")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scenario", choices=sorted(SCENARIOS), action="append", help="repeatable; default all")
    parser.add_argument("--json", action="store_true", help="one JSON line per strategy instead of tables")
    args = parser.parse_args(argv)
    for name in args.scenario or SCENARIOS:
        scenario = SCENARIOS[name](args.requests)
        rows = run(scenario, args.seed)
        if args.json:
            for row in rows:
                print(json.dumps(row, sort_keys=True))
        else:
            print(table(scenario, rows), end="\n\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
