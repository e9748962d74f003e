"""Which budget alerts a month's spend raises: pure functions of keys, their spend and the thresholds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from app.gateway.snapshot import KeyRecord
from app.limits.admit import effective_limits

__all__ = ["BudgetAlert", "budget_alerts", "budgets", "slack_text"]


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A key's spend this month crossed `threshold` x its monthly budget."""

    key: KeyRecord
    month: str
    """`2026-11`: budgets are per UTC month."""
    threshold: float
    spent_usd: float
    budget_usd: float

    @property
    def dedup(self) -> str:
        return f"budget:{self.key.id}:{self.month}:{self.threshold:g}"

    def message(self) -> str:
        who = f"Key '{self.key.name}' ({self.key.prefix})"
        spent = f"${self.spent_usd:,.2f} of its ${self.budget_usd:,.2f} monthly budget in {self.month}"
        if self.threshold >= 1:
            return f"{who} has spent {spent} ({self.share:.0%}): its calls are refused with BUDGET_EXCEEDED"
        return f"{who} has spent {spent} ({self.share:.0%}, past the {self.threshold:.0%} alert)"

    @property
    def share(self) -> float:
        return self.spent_usd / self.budget_usd

    def payload(self, alert_id: str, created_at: str) -> dict[str, Any]:
        key = self.key
        return {
            "id": alert_id,
            "object": "alert",
            "type": "budget.threshold",
            "created_at": created_at,
            "key": {"id": key.id, "name": key.name, "prefix": key.prefix, "user_id": key.user_id},
            "plan": key.plan.name if key.plan else None,
            "month": self.month,
            "threshold": self.threshold,
            "spent_usd": round(self.spent_usd, 6),
            "budget_usd": self.budget_usd,
            "message": self.message(),
        }


def budgets(keys: Iterable[KeyRecord]) -> dict[str, tuple[KeyRecord, float]]:
    """Key id -> (key, its monthly budget: its own, else its plan's) for keys that have one."""
    out: dict[str, tuple[KeyRecord, float]] = {}
    for key in keys:  # a rotated key is listed under two hashes: one entry per id
        budget = effective_limits(key).monthly_budget_usd
        if budget is not None and budget > 0:
            out[key.id] = (key, budget)
    return out


def budget_alerts(
    keys: Mapping[str, tuple[KeyRecord, float]],
    spent: Mapping[str, float],
    thresholds: Sequence[float],
    month: str,
) -> list[BudgetAlert]:
    """Every threshold each key has crossed this month, lowest first (the caller skips those already raised)."""
    out: list[BudgetAlert] = []
    for key_id, amount in spent.items():
        found = keys.get(key_id)
        if found is None or amount <= 0:
            continue
        key, budget = found
        out.extend(BudgetAlert(key, month, t, amount, budget) for t in sorted(set(thresholds)) if amount >= t * budget)
    return out


def slack_text(payload: Mapping[str, Any]) -> dict[str, str]:
    """A Slack (or Mattermost, Discord-compatible) incoming-webhook body."""
    return {"text": f":warning: Polyroute: {payload['message']}"}
