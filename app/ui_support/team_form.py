"""The team form (plan, models, limits on all its keys together) and the add-member form -> documents."""

from __future__ import annotations

from litestar.datastructures import FormMultiDict

from app.catalog.services.records import Team
from app.catalog.services.teams import Role
from app.ui_support.forms import FormDoc, lines, text
from app.ui_support.plan_form import LIMIT_FIELDS, limits_from_form

__all__ = ["ROLE_CHOICES", "blank_member", "blank_team", "parse_member_form", "parse_team_form", "team_doc"]

ROLE_CHOICES: tuple[tuple[Role, str], ...] = (
    ("member", "Member: their own keys"),
    ("admin", "Admin: every key of the team"),
)


def blank_team() -> FormDoc:
    return {"name": "", "plan": None, "models": None, "limits": {}}


def team_doc(record: Team) -> FormDoc:
    """Only the TeamSpec fields: the form posts back exactly what `update_team` merges."""
    limits = {field: getattr(record.limits, field) for field in LIMIT_FIELDS}
    return {
        "name": record.name,
        "plan": record.plan,
        "models": record.models,
        "limits": {k: v for k, v in limits.items() if v is not None},
    }


def parse_team_form(form: FormMultiDict) -> tuple[FormDoc, dict[str, str]]:
    """Blank models mean "the plans' models" (null), not "no models": an empty list would allow nothing."""
    problems: dict[str, str] = {}
    limits = limits_from_form(form, problems)
    doc: FormDoc = {
        "name": text(form, "name"),
        "plan": text(form, "plan") or None,
        "models": lines(text(form, "models")) or None,
        "limits": limits,
    }
    return doc, problems


def blank_member() -> FormDoc:
    return {"user": "", "role": "member"}


def parse_member_form(form: FormMultiDict) -> tuple[FormDoc, Role | None, dict[str, str]]:
    """The user (id or username, as the service takes either) and a role from the fixed choices."""
    doc: FormDoc = {"user": text(form, "user"), "role": text(form, "role") or "member"}
    problems: dict[str, str] = {}
    if not doc["user"]:
        problems["user"] = "is required"
    role = next((r for r, _ in ROLE_CHOICES if r == doc["role"]), None)
    if role is None:
        problems["role"] = "must be member or admin"
    return doc, role, problems
