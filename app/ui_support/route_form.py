"""The route form (targets, strategy, parameters) and the preview of the order a strategy picks now."""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import msgspec
from litestar.datastructures import FormMultiDict

from app.catalog.services.records import Route
from app.catalog.services.validation import convert_strict
from app.catalog.specs import Limits, RouteParams, RouteSpec
from app.errors import GatewayError
from app.gateway.rank import rank_targets
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ResolvedModel, RouteEntry
from app.health.scores import HealthRegistry
from app.ui_support.forms import FormDoc, number, rows, text
from app.ui_support.health_view import HealthBadge, health_badge

__all__ = ["Preview", "PreviewRow", "blank_route", "parse_route_form", "preview_order", "route_doc"]

PREVIEW_DRAWS = 200
"""Rankings drawn to show how often each target comes first (random strategies differ per request)."""

_REQUEST: dict[str, Any] = {"estimated_prompt_tokens": 500, "max_output_tokens": None, "stream": False}
"""A typical small request for the preview: the order depends on health and price, not on the prompt."""

_PARAM_NUMBERS: dict[str, bool] = {
    "retries": True,
    "backoff_ms": False,
    "deadline_s": False,
    "first_token_timeout_s": False,
    "stall_timeout_s": False,
    "exploration": False,
    "hedge_after_ms": False,
}


def _param_defaults() -> dict[str, Any]:
    """Every parameter with its default (the struct omits defaults when encoded)."""
    out: dict[str, Any] = {}
    for info in msgspec.structs.fields(RouteParams):
        if info.default is not msgspec.NODEFAULT:
            out[info.name] = info.default
        elif info.default_factory is not msgspec.NODEFAULT:
            out[info.name] = info.default_factory()
    return out


def blank_route() -> FormDoc:
    return {
        "name": "route/",
        "strategy": "priority-fallback",
        "enabled": True,
        "targets": [{"provider": "", "model": "", "priority": 0, "weight": 1.0}],
        "params": _param_defaults(),
    }


def route_doc(record: Route) -> FormDoc:
    doc: FormDoc = msgspec.to_builtins(record)
    doc["params"] = {**_param_defaults(), **doc["params"]}
    doc["targets"] = [{"priority": 0, "weight": 1.0, **t} for t in doc["targets"]]
    return doc


def _targets(form: FormMultiDict, problems: dict[str, str]) -> list[dict[str, Any]]:
    targets: list[dict[str, Any]] = []
    for row in rows(form.multi_items(), "targets"):
        if not row.get("provider") and not row.get("model"):
            continue
        index = len(targets)
        priority = number(row, "priority", problems, integer=True, key=f"targets[{index}].priority")
        weight = number(row, "weight", problems, key=f"targets[{index}].weight")
        target: dict[str, Any] = {"provider": row.get("provider", ""), "model": row.get("model", "")}
        target["priority"] = 0 if priority is None else priority
        target["weight"] = 1.0 if weight is None else weight
        targets.append(target)
    return targets


def parse_route_form(form: FormMultiDict, existing: Route | None) -> tuple[FormDoc, dict[str, str]]:
    """Spec-shaped document; parameters the form does not show keep their stored values."""
    problems: dict[str, str] = {}
    params: dict[str, Any] = msgspec.to_builtins(existing.params) if existing else {}
    for name, integer in _PARAM_NUMBERS.items():
        value = number(form, f"params.{name}", problems, integer=integer, key=f"params.{name}")
        if value is not None or name in params:
            params[name] = value
    params = {k: v for k, v in params.items() if v is not None}
    params["mid_stream_recovery"] = form.get("params.mid_stream_recovery") == "on"
    if inner := text(form, "params.inner"):
        params["inner"] = inner
    else:
        params.pop("inner", None)
    doc: FormDoc = {
        "name": text(form, "name"),
        "strategy": text(form, "strategy") or "priority-fallback",
        "enabled": form.get("enabled") == "on",
        "targets": _targets(form, problems),
        "params": params,
    }
    return doc, problems


@dataclass(frozen=True, slots=True)
class PreviewRow:
    key: str
    priority: int
    weight: float
    price: str
    badge: HealthBadge
    first_share: float


@dataclass(frozen=True, slots=True)
class Preview:
    rows: list[PreviewRow] = field(default_factory=list)
    error: str | None = None


def _key_for(plan: str | None, snapshot: CatalogSnapshot) -> KeyRecord:
    spec = snapshot.plans.get(plan) if plan else None
    return KeyRecord("preview", "preview", "", spec, None, Limits(), None)


def preview_order(doc: FormDoc, snapshot: CatalogSnapshot, health: HealthRegistry, plan: str | None) -> Preview:
    """Rank the form's targets exactly as the gateway would now; first-pick shares over many draws."""
    targets = [t for t in doc.get("targets", []) if t.get("provider") or t.get("model")]
    if not targets:
        return Preview(error="Add a target to see the order the strategy would pick.")
    try:
        fields = {k: doc[k] for k in ("strategy", "params", "enabled") if k in doc}
        spec = convert_strict({**fields, "targets": targets, "name": doc.get("name") or "preview"}, RouteSpec)
    except GatewayError as exc:
        return Preview(error=exc.detail)
    entry = RouteEntry(spec.name, spec.strategy, spec.params, tuple(spec.targets), spec.enabled)
    resolved = ResolvedModel(spec.name, entry, tuple(spec.targets))
    key = _key_for(plan, snapshot)
    rng = random.Random(0)
    firsts: Counter[str] = Counter()
    try:
        _, ranked = rank_targets(resolved, snapshot, key, health, **_REQUEST, rng=rng)
        for _ in range(PREVIEW_DRAWS):
            firsts[rank_targets(resolved, snapshot, key, health, **_REQUEST, rng=rng)[1][0].key] += 1
    except (GatewayError, LookupError) as exc:
        return Preview(error=getattr(exc, "detail", str(exc)))
    out = []
    for c in ranked:
        price = f"${c.input_cost_per_mtok:g} / ${c.output_cost_per_mtok:g}"
        share = firsts[c.key] / PREVIEW_DRAWS
        out.append(PreviewRow(c.key, c.priority, c.weight, price, health_badge(c.health), share))
    return Preview(out)
