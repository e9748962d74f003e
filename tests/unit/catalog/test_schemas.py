"""The admin schema trio stays in step with the catalog specs; user key limits never exceed the plan."""

from __future__ import annotations

import msgspec
import pytest

from app.api.admin.schemas import PlanUpdate, ProviderUpdate, RouteUpdate, UserUpdate, set_fields
from app.catalog.services.api_keys import limits_above_plan
from app.catalog.services.users import UserDraft
from app.catalog.specs import EndUserLimits, Limits, PlanSpec, ProviderSpec, RouteSpec


@pytest.mark.parametrize(
    ("update", "spec"),
    [(ProviderUpdate, ProviderSpec), (RouteUpdate, RouteSpec), (PlanUpdate, PlanSpec), (UserUpdate, UserDraft)],
)
def test_update_structs_cover_every_spec_field(update: type[msgspec.Struct], spec: type[msgspec.Struct]) -> None:
    assert {f.name for f in msgspec.structs.fields(update)} == {f.name for f in msgspec.structs.fields(spec)}
    assert all(not f.required for f in msgspec.structs.fields(update))


def test_set_fields_keeps_explicit_nulls_and_drops_absent_ones() -> None:
    patch = msgspec.json.decode(b'{"api_key": null, "enabled": false}', type=ProviderUpdate)
    assert set_fields(patch) == {"api_key": None, "enabled": False}


def test_limits_above_plan() -> None:
    plan = PlanSpec(name="p", rpm=10, daily_requests=None, monthly_budget_usd=5.0)
    assert limits_above_plan(Limits(rpm=10, daily_requests=10**6, monthly_budget_usd=4.0), plan) == []
    assert limits_above_plan(Limits(rpm=11, monthly_budget_usd=5.5), plan) == ["rpm", "monthly_budget_usd"]


def test_end_user_limits_above_the_plans_are_caught() -> None:
    plan = PlanSpec(name="p", end_user_limits=EndUserLimits(rpm=5, tpm=None))
    assert limits_above_plan(Limits(end_user_limits=EndUserLimits(rpm=5, tpm=10**6)), plan) == []
    assert limits_above_plan(Limits(end_user_limits=EndUserLimits(rpm=6)), plan) == ["end_user_limits.rpm"]
    unlimited = PlanSpec(name="q")
    assert limits_above_plan(Limits(end_user_limits=EndUserLimits(rpm=60)), unlimited) == []  # a limit added
