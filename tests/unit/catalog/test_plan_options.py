"""A plan's settings without a column of their own (`cache`, `end_user_limits`) survive the row."""

from __future__ import annotations

from app.catalog.apply import plan_values
from app.catalog.specs import EndUserLimits, PlanSpec
from app.catalog.store import plan_from_row


def test_plan_options_round_trip() -> None:
    for spec in (
        PlanSpec(name="p"),
        PlanSpec(name="p", cache=False),
        PlanSpec(name="p", end_user_limits=EndUserLimits(rpm=3, monthly_budget_usd=0.25)),
    ):
        assert plan_from_row(plan_values(spec)) == spec
    odd = {**plan_values(PlanSpec(name="p")), "options": '{"end_user_limits": 7}'}
    assert plan_from_row(odd).end_user_limits is None
