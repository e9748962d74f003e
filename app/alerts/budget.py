"""Which budget alerts a month's or a day's spend raises: pure functions of keys, their spend and the thresholds."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from app.gateway.snapshot import KeyRecord, TeamRecord
from app.limits.admit import effective_limits

__all__ = [
    "BUDGET_FIELDS",
    "BudgetAlert",
    "Spender",
    "Window",
    "budget_alerts",
    "budgets",
    "slack_text",
    "team_budgets",
    "user_budgets",
]


@dataclass(frozen=True, slots=True)
class Spender:
    """Whose spend a budget holds: one key, every key of one user (their plan's `user_limits`), or every
    key of a team (its `limits`)."""

    kind: Literal["key", "user", "team"]
    id: str
    label: str
    """How the message names them: `Key 'ci' (sk-poly-AbCd)`, `User 'ann'`."""
    fields: dict[str, Any]
    """`key` or `user`, and `plan`, as the payload carries them."""

    @classmethod
    def of_key(cls, key: KeyRecord) -> Spender:
        ref = {"id": key.id, "name": key.name, "prefix": key.prefix, "user_id": key.user_id}
        return cls(
            "key", key.id, f"Key '{key.name}' ({key.prefix})", {"key": ref, "plan": key.plan.name if key.plan else None}
        )

    @classmethod
    def of_user(cls, user_id: str, username: str, plan: str) -> Spender:
        return cls("user", user_id, f"User '{username}'", {"user": {"id": user_id, "username": username}, "plan": plan})

    @classmethod
    def of_team(cls, team: TeamRecord) -> Spender:
        return cls("team", team.id, f"Team '{team.name}'", {"team": {"id": team.id, "name": team.name}})


Window = Literal["month", "day"]
BUDGET_FIELDS: dict[Window, str] = {"month": "monthly_budget_usd", "day": "daily_budget_usd"}


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A spender's spend this month (or today) crossed `threshold` x its monthly (daily) budget."""

    spender: Spender
    period: str
    """`2026-11` for a monthly budget, `2026-11-24` for a daily one: budgets run per UTC month or day."""
    threshold: float
    spent_usd: float
    budget_usd: float
    window: Window = "month"

    @property
    def dedup(self) -> str:
        kind = self.spender.kind
        subject = self.spender.id if kind == "key" else f"{kind}~{self.spender.id}"
        return f"budget:{subject}:{self.period}:{self.threshold:g}"

    def message(self) -> str:
        whose, shared, calls = _WORDS[self.spender.kind]
        which, when = ("daily", "on") if self.window == "day" else ("monthly", "in")
        spent = f"${self.spent_usd:,.2f} of {whose} ${self.budget_usd:,.2f} {which} budget{shared} {when} {self.period}"
        if self.threshold >= 1:
            return f"{self.spender.label} has spent {spent} ({self.share:.0%}): {calls} refused with BUDGET_EXCEEDED"
        return f"{self.spender.label} has spent {spent} ({self.share:.0%}, past the {self.threshold:.0%} alert)"

    @property
    def share(self) -> float:
        return self.spent_usd / self.budget_usd

    def payload(self, alert_id: str, created_at: str) -> dict[str, Any]:
        return {
            "id": alert_id,
            "object": "alert",
            "type": "budget.threshold",
            "created_at": created_at,
            **self.spender.fields,
            "window": self.window,
            self.window: self.period,
            "threshold": self.threshold,
            "spent_usd": round(self.spent_usd, 6),
            "budget_usd": self.budget_usd,
            "message": self.message(),
        }


_WORDS = {
    "key": ("its", "", "its calls are"),
    "user": ("the", " their keys share", "their keys' calls are"),
    "team": ("the", " its keys share", "its keys' calls are"),
}
"""Per kind of spender: whose budget, what shares it, and whose calls a spent budget refuses."""


def budgets(keys: Iterable[KeyRecord], window: Window = "month") -> dict[str, tuple[Spender, float]]:
    """Key id -> (the key, its monthly or daily budget: its own, else its plan's) for keys that have one."""
    out: dict[str, tuple[Spender, float]] = {}
    for key in keys:  # a rotated key is listed under two hashes: one entry per id
        budget = getattr(effective_limits(key), BUDGET_FIELDS[window])
        if budget is not None and budget > 0 and key.id not in out:
            out[key.id] = (Spender.of_key(key), budget)
    return out


def user_budgets(keys: Iterable[KeyRecord], window: Window = "month") -> dict[str, tuple[str, float]]:
    """User id -> (plan, the monthly or daily budget their keys share) for users on a plan with one."""
    out: dict[str, tuple[str, float]] = {}
    for key in keys:
        shared = key.plan.user_limits if key.plan is not None else None
        budget = getattr(shared, BUDGET_FIELDS[window]) if shared is not None else None
        if key.user_id is not None and key.plan is not None and budget is not None and budget > 0:
            out[key.user_id] = (key.plan.name, budget)
    return out


def team_budgets(keys: Iterable[KeyRecord], window: Window = "month") -> dict[str, tuple[Spender, float]]:
    """Team id -> (the team, the monthly or daily budget its keys share) for teams with one and an active key."""
    out: dict[str, tuple[Spender, float]] = {}
    for key in keys:
        team = key.team
        budget = getattr(team.limits, BUDGET_FIELDS[window]) if team is not None else None
        if team is not None and budget is not None and budget > 0:
            out[team.id] = (Spender.of_team(team), budget)
    return out


def budget_alerts(
    spenders: Mapping[str, tuple[Spender, float]],
    spent: Mapping[str, float],
    thresholds: Sequence[float],
    period: str,
    window: Window = "month",
) -> list[BudgetAlert]:
    """Every threshold each spender has crossed in the period, lowest first (the caller skips those already raised)."""
    out: list[BudgetAlert] = []
    for spender_id, amount in spent.items():
        found = spenders.get(spender_id)
        if found is None or amount <= 0:
            continue
        spender, budget = found
        out.extend(
            BudgetAlert(spender, period, t, amount, budget, window)
            for t in sorted(set(thresholds))
            if amount >= t * budget
        )
    return out


def slack_text(payload: Mapping[str, Any]) -> dict[str, str]:
    """A Slack (or Mattermost, Discord-compatible) incoming-webhook body."""
    return {"text": f":warning: Polyroute: {payload['message']}"}
