"""Why a request went where it went: ranked candidates with their scores, and each one's outcome."""

from __future__ import annotations

from typing import Any

import msgspec

from app.gateway.attempt_outcomes import AttemptRecord
from strategies.base import Candidate

__all__ = ["explain", "explain_header", "splice_explain", "wants_explain"]


def wants_explain(headers: dict[str, str]) -> bool:
    return headers.get("x-polyroute-explain", "").strip().lower() in {"1", "true", "yes"}


def explain(strategy: str, ranked: list[Candidate], records: list[AttemptRecord]) -> dict[str, Any]:
    outcomes: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        outcomes.setdefault(f"{record.provider}/{record.model}", []).append(record.as_dict())
    candidates = []
    for position, c in enumerate(ranked):
        h = c.health
        tries = outcomes.get(c.key, [])
        verdict = "not tried"
        if any(t["outcome"] == "ok" for t in tries):
            verdict = "chosen"
        elif tries and all(t["outcome"] == "skipped" for t in tries):
            verdict = "skipped: " + str(tries[0].get("error", ""))
        elif tries:
            verdict = "failed: " + str(tries[-1].get("error") or tries[-1]["outcome"])
        candidates.append(
            {
                "rank": position,
                "target": c.key,
                "priority": c.priority,
                "weight": c.weight,
                "breaker": h.breaker,
                "latency_ms": round(h.latency_ms, 1) if h.latency_ms is not None else None,
                "ttft_ms": round(h.ttft_ms, 1) if h.ttft_ms is not None else None,
                "error_rate": round(h.error_rate, 3),
                "price_per_mtok": [c.input_cost_per_mtok, c.output_cost_per_mtok],
                "verdict": verdict,
                "attempts": tries,
            }
        )
    return {"strategy": strategy, "candidates": candidates}


def explain_header(doc: dict[str, Any]) -> str:
    # Header values must be latin-1: ASCII-escape anything else.
    return msgspec.json.encode(doc).decode().encode("ascii", "backslashreplace").decode()


def splice_explain(body: bytes, doc: dict[str, Any]) -> bytes:
    """Add `polyroute_explain` to a JSON object body without decoding it."""
    stripped = body.rstrip()
    if not stripped.endswith(b"}"):
        return body
    return stripped[:-1] + b',"polyroute_explain":' + msgspec.json.encode(doc) + b"}"
