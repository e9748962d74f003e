"""The plan form (limits and allowed models), and which routable names a set of patterns allows."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.datastructures import FormMultiDict

from app.catalog.services.records import Plan
from app.catalog.specs import Limits, PlanSpec
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.ui_support.forms import FormDoc, lines, number, text

__all__ = [
    "END_USER_PREFIX",
    "LIMIT_FIELDS",
    "allowed_names",
    "blank_plan",
    "limits_from_form",
    "parse_plan_form",
    "plan_doc",
]

LIMIT_FIELDS: dict[str, tuple[str, bool]] = {
    "daily_requests": ("Requests per day", True),
    "rpm": ("Requests per minute", True),
    "tpm": ("Tokens per minute", True),
    "monthly_budget_usd": ("Monthly budget (USD)", False),
    "daily_budget_usd": ("Daily budget (USD)", False),
}


END_USER_PREFIX = "eu_"
"""Form names of the per-end-user limits: `eu_rpm` and so on, gathered into `end_user_limits`."""
USER_PREFIX = "ul_"
"""Form names of the limits a user's keys share: `ul_rpm` and so on, gathered into `user_limits`."""


def blank_plan() -> FormDoc:
    return {
        "name": "",
        "models": ["*"],
        "targets": [],
        **dict.fromkeys(LIMIT_FIELDS),
        "end_user_limits": None,
        "user_limits": None,
    }


def plan_doc(record: Plan) -> FormDoc:
    doc: FormDoc = msgspec.to_builtins(record)
    return doc


def parse_plan_form(form: FormMultiDict) -> tuple[FormDoc, dict[str, str]]:
    problems: dict[str, str] = {}
    doc: FormDoc = {
        "name": text(form, "name"),
        "models": lines(text(form, "models")),
        "targets": lines(text(form, "targets")),
    }
    groups: dict[str, dict[str, Any]] = {END_USER_PREFIX: {}, USER_PREFIX: {}}
    for field, (_, integer) in LIMIT_FIELDS.items():
        doc[field] = number(form, field, problems, integer=integer)
        for prefix, group in groups.items():
            value = number(form, prefix + field, problems, integer=integer)
            if value is not None:
                group[field] = value
    doc["end_user_limits"] = groups[END_USER_PREFIX] or None
    doc["user_limits"] = groups[USER_PREFIX] or None
    return doc, problems


def limits_from_form(form: FormMultiDict, problems: dict[str, str]) -> dict[str, Any]:
    """A key's or a team's own limits: the fields filled in. Errors are keyed by the service's field path
    (`limits.rpm`), so a 422 from it lands on the same input."""
    limits = {}
    for field, (_, integer) in LIMIT_FIELDS.items():
        value = number(form, field, problems, integer=integer, key=f"limits.{field}")
        if value is not None:
            limits[field] = value
    return limits


def allowed_names(patterns: list[str], snapshot: CatalogSnapshot) -> list[str]:
    """Routable names (full names, not bare aliases) the patterns allow, by the gateway's own rule."""
    key = KeyRecord("plan-preview", "", "", PlanSpec(name="preview", models=patterns), None, Limits(), None)
    names: Any = (name for name, resolved in snapshot.models.items() if name == resolved.name)
    return sorted(n for n in names if model_allowed(key, n))
