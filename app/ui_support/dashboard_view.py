"""The dashboard's figures: totals, time-series charts and breakdowns over the last hour, day or week."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from app.accounting import queries
from app.accounting.queries import Series, UsageFilter, UsageGroup
from app.ui_support.charts import MAX_SERIES, Chart, line_chart
from app.ui_support.templating import compact, duration_ms, money, percent

__all__ = ["DASHBOARD_WINDOWS", "Dashboard", "Totals", "build_dashboard"]

DashboardWindow = Literal["hour", "day", "week"]
DASHBOARD_WINDOWS: dict[str, str] = {"hour": "Last hour", "day": "Last 24 hours", "week": "Last 7 days"}


@dataclass(frozen=True, slots=True)
class Totals:
    requests: int
    errors: int
    tokens: int
    cost_usd: float
    p50_ms: float | None
    p95_ms: float | None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0


@dataclass(frozen=True, slots=True)
class Dashboard:
    window: str
    start: datetime
    totals: Totals
    charts: list[Chart]
    by_model: list[UsageGroup]
    by_provider: list[UsageGroup]


def _times(s: Series) -> list[datetime]:
    return sorted({p.ts for p in s.points})


def _grouped(s: Series, missing: str) -> dict[str, list[float | None]]:
    """requests per bucket per group, the busiest five first, the rest folded into `other`."""
    times = _times(s)
    index = {t: i for i, t in enumerate(times)}
    by_group: dict[str, list[float | None]] = defaultdict(lambda: [0.0] * len(times))
    for p in s.points:
        by_group[p.group or missing][index[p.ts]] = float(p.requests)
    ranked = sorted(by_group, key=lambda g: -sum(v or 0 for v in by_group[g]))
    kept = {g: by_group[g] for g in ranked[: MAX_SERIES - 1]}
    rest = ranked[MAX_SERIES - 1 :]
    if rest:
        kept["other"] = [sum(by_group[g][i] or 0 for g in rest) for i in range(len(times))]
    return kept


def _charts(total: Series, by_model: Series, by_provider: Series) -> list[Chart]:
    times = _times(total)
    points = sorted(total.points, key=lambda p: p.ts)
    latency = {
        "p50": [p.latency_ms_p50 for p in points],
        "p95": [p.latency_ms_p95 for p in points],
    }
    return [
        line_chart("Requests by model", _times(by_model), _grouped(by_model, "(unanswered)"), compact),
        line_chart("Requests by provider", _times(by_provider), _grouped(by_provider, "(unanswered)"), compact),
        line_chart("Tokens", times, {"tokens": [float(p.total_tokens) for p in points]}, compact, area=True),
        line_chart("Cost", times, {"USD": [p.cost_usd for p in points]}, money, area=True),
        line_chart(
            "Error rate",
            times,
            {"errors": [p.error_rate if p.requests else None for p in points]},
            percent,
            css={"errors": "bad-line"},
            zero_is_data=True,
        ),
        line_chart("Latency", times, latency, duration_ms),
    ]


async def build_dashboard(
    window: DashboardWindow,
    scope: frozenset[str] | None,
    now: float | None = None,
    *,
    end_user: str | None = None,
    tag: str | None = None,
) -> Dashboard:
    """Everything the dashboard shows; narrowed to one end user or tag, it is summed from the request log."""
    base = UsageFilter(scope=scope, end_user=end_user, tag=tag)
    total = await queries.series(window, None, f=base, now=now)
    by_model = await queries.series(window, "model", f=base, now=now)
    by_provider = await queries.series(window, "provider", f=base, now=now)
    since = UsageFilter(scope=scope, start=total.start, end_user=end_user, tag=tag)
    overall = await queries.usage_summary(since)
    models = sorted(await queries.usage_summary(since, ["model"]), key=lambda g: -g.requests)
    providers = sorted(await queries.usage_summary(since, ["provider"]), key=lambda g: -g.requests)
    requests = sum(p.requests for p in total.points)
    totals = Totals(
        requests=requests,
        errors=sum(p.errors for p in total.points),
        tokens=sum(p.total_tokens for p in total.points),
        cost_usd=sum(p.cost_usd for p in total.points),
        p50_ms=overall[0].latency_ms_p50 if overall else None,
        p95_ms=overall[0].latency_ms_p95 if overall else None,
    )
    return Dashboard(window, total.start, totals, _charts(total, by_model, by_provider), models, providers)
