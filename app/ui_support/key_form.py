"""The API key form -> a KeyDraft document, and a key's status as a badge."""

from __future__ import annotations

from datetime import UTC, datetime

from litestar.datastructures import FormMultiDict

from app.catalog.services.records import ApiKey
from app.ui_support.forms import FormDoc, lines, number, text
from app.ui_support.plan_form import limits_from_form

__all__ = ["GRACE_CHOICES", "blank_key", "key_status", "parse_key_form"]

GRACE_CHOICES: tuple[tuple[str, str], ...] = (
    ("0", "Stop the old secret now"),
    ("3600", "Keep the old secret for 1 hour"),
    ("86400", "Keep the old secret for 24 hours"),
)


def blank_key() -> FormDoc:
    return {
        "name": "",
        "plan": None,
        "user_id": None,
        "team": None,
        "expires_in_days": None,
        "allowed_models": None,
        "limits": {},
    }


def parse_key_form(form: FormMultiDict, *, admin: bool) -> tuple[FormDoc, dict[str, str]]:
    """Users never choose a plan or an owner: the service puts their keys on their own plan (or, in one of
    their teams, the team's), and refuses a team they are not in."""
    problems: dict[str, str] = {}
    limits = limits_from_form(form, problems)
    patterns = lines(text(form, "allowed_models"))
    doc: FormDoc = {
        "name": text(form, "name"),
        "expires_in_days": number(form, "expires_in_days", problems, integer=True),
        "allowed_models": patterns or None,
        "limits": limits,
    }
    doc["team"] = text(form, "team") or None
    if admin:
        doc["plan"] = text(form, "plan") or None
        doc["user_id"] = text(form, "user_id") or None
    return doc, problems


def key_status(key: ApiKey, now: datetime | None = None) -> tuple[str, str]:
    """(label, badge class)."""
    moment = now or datetime.now(UTC)
    if key.revoked_at is not None:
        return "revoked", "bad"
    if key.expires_at is not None and key.expires_at <= moment:
        return "expired", "warn"
    if key.previous_valid_until is not None and key.previous_valid_until > moment:
        return "rotating", "info"
    return "active", "ok"
