"""The provider form: a Provider record -> form values, and the posted form -> a ProviderSpec document."""

from __future__ import annotations

from typing import Any

import msgspec
from litestar.datastructures import FormMultiDict

from app.catalog.secrets import mask
from app.catalog.services.records import Provider
from app.gateway.snapshot import ProviderEntry
from app.ui_support.forms import FormDoc, number, rows, text

__all__ = ["MODEL_FLAGS", "blank_model", "blank_provider", "parse_provider_form", "provider_doc", "spec_fields"]

MODEL_FLAGS = ("tools", "vision", "reasoning", "streaming")
_MODEL_NUMBERS = {
    "input_cost_per_mtok": False,
    "output_cost_per_mtok": False,
    "context_window": True,
    "max_output_tokens": True,
}
_SECONDS = ("timeout_s", "first_token_timeout_s", "stall_timeout_s", "probe_interval_s")


def blank_model() -> dict[str, Any]:
    return {"id": "", "input_cost_per_mtok": 0.0, "output_cost_per_mtok": 0.0, "tools": True, "streaming": True}


def blank_provider() -> FormDoc:
    return {
        "name": "",
        "kind": "openai",
        "base_url": "",
        "enabled": True,
        "timeout_s": 60.0,
        "first_token_timeout_s": None,
        "stall_timeout_s": None,
        "probe_interval_s": 30.0,
        "quirks": None,
        "max_concurrent": None,
        "batch_cost_factor": None,
        "daily_budget_usd": None,
        "monthly_budget_usd": None,
        "api_version": None,
        "region": None,
        "headers_text": "",
        "models": [blank_model()],
    }


def provider_doc(record: Provider) -> FormDoc:
    """Form values for editing; credential-like header values are already masked by the service."""
    doc: FormDoc = msgspec.to_builtins(record)
    doc["models"] = [{"tools": True, "streaming": True, **m} for m in doc["models"]]
    doc["headers_text"] = "\n".join(f"{k}: {v}" for k, v in record.headers.items())
    return doc


def _headers(raw: str, stored: dict[str, str], problems: dict[str, str]) -> dict[str, str]:
    """`Name: value` lines; a value left as its masked hint keeps the stored value."""
    headers: dict[str, str] = {}
    for line in raw.splitlines():
        if not line.strip():
            continue
        name, sep, value = line.partition(":")
        if not sep or not name.strip():
            problems["headers"] = "write one header per line, as Name: value"
            continue
        name, value = name.strip(), value.strip()
        kept = stored.get(name)
        headers[name] = kept if kept is not None and value == mask(kept) else value
    return headers


def _models(form: FormMultiDict, existing: dict[str, dict[str, Any]], problems: dict[str, str]) -> list[dict[str, Any]]:
    models: list[dict[str, Any]] = []
    for row in rows(form.multi_items(), "models"):
        index = len(models)
        model_id = row.get("id", "")
        if not model_id and not any(row.get(f) for f in _MODEL_NUMBERS):
            continue  # an untouched blank row
        doc: dict[str, Any] = {**existing.get(model_id, {}), "id": model_id}
        for field, integer in _MODEL_NUMBERS.items():
            key = f"models[{index}].{field}"
            value = number(row, field, problems, integer=integer, key=key)
            doc[field] = 0.0 if value is None and field.endswith("_mtok") else value
        for flag in MODEL_FLAGS:
            doc[flag] = row.get(flag) == "on"
        models.append({k: v for k, v in doc.items() if v is not None})
    return models


def parse_provider_form(
    form: FormMultiDict, existing: Provider | None, entry: ProviderEntry | None
) -> tuple[FormDoc, dict[str, str]]:
    """The spec-shaped document (with `headers_text` for re-display) and the form's own problems."""
    problems: dict[str, str] = {}
    doc: FormDoc = {
        "name": text(form, "name"),
        "kind": text(form, "kind"),
        "base_url": text(form, "base_url") or None,
        "enabled": form.get("enabled") == "on",
        "quirks": text(form, "quirks") or None,
        "api_version": text(form, "api_version") or None,
        "region": text(form, "region") or None,
        "headers_text": text(form, "headers"),
    }
    for field in _SECONDS:
        doc[field] = number(form, field, problems)
    if doc["timeout_s"] is None:
        doc["timeout_s"] = 60.0
    if doc["probe_interval_s"] is None:
        doc["probe_interval_s"] = 30.0
    doc["max_concurrent"] = number(form, "max_concurrent", problems, integer=True)
    doc["batch_cost_factor"] = number(form, "batch_cost_factor", problems)
    for budget in ("daily_budget_usd", "monthly_budget_usd"):
        doc[budget] = number(form, budget, problems)
    doc["headers"] = _headers(doc["headers_text"], entry.headers if entry else {}, problems)
    known = {m.id: msgspec.to_builtins(m) for m in existing.models} if existing else {}
    doc["models"] = _models(form, known, problems)
    return doc, problems


def spec_fields(doc: FormDoc) -> dict[str, Any]:
    """The document without form-only keys, ready for `convert_strict(..., ProviderSpec)`."""
    return {k: v for k, v in doc.items() if k != "headers_text"}
