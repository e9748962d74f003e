"""Rows <-> specs, the catalog version, and building the hot path's snapshot from the database."""

from __future__ import annotations

import fnmatch
import logging
from datetime import UTC, datetime
from typing import Any

import msgspec
from piccolo.engine.postgres import PostgresEngine

from app.accounting.attribution import key_tags
from app.catalog.secrets import SecretBox
from app.catalog.specs import (
    BATCH_COST_FACTOR,
    TOOL_KINDS,
    EndUserLimits,
    Limits,
    ModelSpec,
    PlanSpec,
    RouteParams,
    TargetSpec,
    TeamSpec,
)
from app.db.tables import (
    ApiKeyRow,
    CatalogStateRow,
    PlanRow,
    PromptRow,
    PromptVersionRow,
    ProviderRow,
    RouteRow,
    TeamRow,
)
from app.gateway.snapshot import (
    CatalogSnapshot,
    KeyRecord,
    PromptEntry,
    ProviderEntry,
    ResolvedModel,
    RouteEntry,
    TeamRecord,
    is_pattern,
)
from app.prompts.template import PromptTemplate

__all__ = [
    "CATALOG_CHANNEL",
    "bump_version",
    "current_version",
    "dump_json",
    "load_json",
    "load_snapshot",
    "now",
    "plan_from_row",
    "resolve_table",
    "team_from_row",
]


log = logging.getLogger("polyroute.catalog")

CATALOG_CHANNEL = "polyroute_catalog"
"""Postgres NOTIFY channel; the payload is the new catalog version."""


def now() -> datetime:
    return datetime.now(UTC)


def rfc3339(moment: datetime | float) -> str:
    """A UTC time (a datetime or Unix seconds) as the APIs write it: `2026-11-23T22:05:00Z`."""
    if not isinstance(moment, datetime):
        moment = datetime.fromtimestamp(moment, UTC)
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def dump_json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


def load_json(value: Any) -> Any:
    if isinstance(value, str):
        return msgspec.json.decode(value) if value else None
    return value


async def current_version() -> int:
    row = await CatalogStateRow.select(CatalogStateRow.version).where(CatalogStateRow.id == 1).first().run()
    return int(row["version"]) if row else 0


async def bump_version() -> int:
    """Every catalog write calls this so every replica notices and rebuilds its snapshot.

    On Postgres it also sends NOTIFY, which is delivered when the surrounding transaction commits.
    """
    version = await _increment()
    if isinstance(CatalogStateRow._meta.db, PostgresEngine):
        await CatalogStateRow.raw("SELECT pg_notify({}, {})", CATALOG_CHANNEL, str(version)).run()
    return version


async def _increment() -> int:
    updated = (
        await CatalogStateRow.update(
            {CatalogStateRow.version: CatalogStateRow.version + 1, CatalogStateRow.updated_at: now()}
        )
        .where(CatalogStateRow.id == 1)
        .returning(CatalogStateRow.version)
        .run()
    )
    if updated:
        return int(updated[0]["version"])
    await CatalogStateRow.insert(CatalogStateRow(id=1, version=1, updated_at=now())).run()
    return 1


def plan_from_row(row: dict[str, Any]) -> PlanSpec:
    options = load_json(row.get("options")) or {}
    return PlanSpec(
        name=row["name"],
        models=load_json(row["models"]) or ["*"],
        targets=load_json(row["targets"]) or [],
        daily_requests=row["daily_requests"],
        rpm=row["rpm"],
        tpm=row["tpm"],
        monthly_budget_usd=row["monthly_budget_usd"],
        daily_budget_usd=options.get("daily_budget_usd"),
        cache=options.get("cache", True) is not False,
        end_user_limits=_limits(options.get("end_user_limits")),
        user_limits=_limits(options.get("user_limits")),
    )


def team_from_row(row: dict[str, Any]) -> TeamSpec:
    models = load_json(row["models"])
    return TeamSpec(
        name=row["name"],
        plan=row["plan"],
        models=list(models) if models is not None else None,
        limits=_limits(load_json(row["limits"])) or EndUserLimits(),
    )


def _team_record(row: dict[str, Any]) -> TeamRecord:
    spec = team_from_row(row)
    return TeamRecord(row["id"], spec.name, tuple(spec.models) if spec.models is not None else None, spec.limits)


def _limits(stored: Any) -> EndUserLimits | None:
    return msgspec.convert(stored, EndUserLimits) if isinstance(stored, dict) else None


_undecryptable: set[str] = set()
"""Providers whose credential this process could not decrypt, already reported (once, not per rebuild)."""


def _credential(row: dict[str, Any], box: SecretBox) -> str | None:
    if not row["api_key_enc"]:
        return None
    api_key = box.decrypt(row["api_key_enc"])
    if api_key is None and row["name"] not in _undecryptable:
        _undecryptable.add(row["name"])
        log.error(
            "cannot decrypt the credential of provider %r: it was stored under another secret key. Every "
            "replica sharing this database needs the same POLYROUTE_SECRET_KEY; until then its calls carry no key",
            row["name"],
        )
    return api_key


def _provider_entry(row: dict[str, Any], box: SecretBox) -> ProviderEntry:
    options = load_json(row["options"]) or {}
    models = msgspec.convert(load_json(row["models"]) or [], list[ModelSpec])
    api_key = _credential(row, box)
    return ProviderEntry(
        id=row["id"],
        name=row["name"],
        kind=row["kind"],
        base_url=row["base_url"],
        api_key=api_key,
        enabled=row["enabled"],
        timeout_s=row["timeout_s"],
        first_token_timeout_s=row["first_token_timeout_s"],
        stall_timeout_s=row["stall_timeout_s"],
        models={m.id: m for m in models},
        headers=load_json(row["headers"]) or {},
        probe_interval_s=float(options.get("probe_interval_s", 30.0)),
        quirks=options.get("quirks"),
        max_concurrent=options.get("max_concurrent"),
        batch_cost_factor=float(options.get("batch_cost_factor", BATCH_COST_FACTOR.get(row["kind"], 1.0))),
        api_version=options.get("api_version"),
        region=options.get("region"),
        daily_budget_usd=options.get("daily_budget_usd"),
        monthly_budget_usd=options.get("monthly_budget_usd"),
    )


def _route_entry(row: dict[str, Any]) -> RouteEntry:
    return RouteEntry(
        name=row["name"],
        strategy=row["strategy"],
        params=msgspec.convert(load_json(row["params"]) or {}, RouteParams),
        targets=tuple(msgspec.convert(load_json(row["targets"]) or [], list[TargetSpec])),
        enabled=row["enabled"],
    )


def _timestamp(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _key_records(
    rows: list[dict[str, Any]], plans: dict[str, PlanSpec], teams: dict[str, TeamRecord]
) -> tuple[dict[str, KeyRecord], dict[str, float]]:
    keys: dict[str, KeyRecord] = {}
    grace: dict[str, float] = {}
    for row in rows:
        if row["revoked_at"] is not None:
            continue
        allowed = load_json(row["allowed_models"])
        metadata = load_json(row["metadata"]) or {}
        record = KeyRecord(
            id=row["id"],
            name=row["name"],
            prefix=row["prefix"],
            plan=plans.get(row["plan"]) if row["plan"] else None,
            allowed_models=tuple(allowed) if allowed is not None else None,
            limits=msgspec.convert(load_json(row["overrides"]) or {}, Limits),
            expires_at=_timestamp(row["expires_at"]),
            user_id=row["user_id"],
            metadata=metadata,
            tags=key_tags(metadata),
            team=teams.get(row["team_id"]) if row["team_id"] else None,
        )
        keys[row["key_hash"]] = record
        if row["previous_hash"] and row["previous_valid_until"] is not None:
            keys[row["previous_hash"]] = record
            grace[row["previous_hash"]] = row["previous_valid_until"].timestamp()
    return keys, grace


def resolve_table(providers: dict[str, ProviderEntry], routes: dict[str, RouteEntry]) -> dict[str, ResolvedModel]:
    """Every routable name: `<provider>/<model>`, routes (which win), and unambiguous bare names."""
    table: dict[str, ResolvedModel] = {}
    bare: dict[str, list[ResolvedModel]] = {}
    for provider in providers.values():
        if not provider.enabled or provider.kind in TOOL_KINDS:
            continue
        for model_id in provider.models:
            if is_pattern(model_id):  # stands for the names it matches: resolved on demand
                continue
            resolved = ResolvedModel(f"{provider.name}/{model_id}", None, (TargetSpec(provider.name, model_id),))
            table[resolved.name] = resolved
            bare.setdefault(model_id, []).append(resolved)
    for route in routes.values():
        if not route.enabled:
            continue
        resolved = ResolvedModel(route.name, route, route.targets)
        table[route.name] = resolved
        if "/" in route.name:
            bare.setdefault(route.name.split("/", 1)[1], []).append(resolved)
    for name, found in bare.items():
        distinct = {r.name for r in found}
        if name not in table and len(distinct) == 1:
            table[name] = found[0]
    return table


async def _prompts() -> dict[str, PromptEntry]:
    rows = await PromptRow.select().run()
    if not rows:
        return {}
    versions: dict[str, dict[int, PromptTemplate]] = {}
    for row in await PromptVersionRow.select().run():
        template = msgspec.convert(load_json(row["body"]), PromptTemplate)
        versions.setdefault(row["prompt_id"], {})[row["version"]] = template
    return {r["name"]: PromptEntry(r["name"], r["published"], versions.get(r["id"], {})) for r in rows}


async def load_snapshot(box: SecretBox) -> CatalogSnapshot:
    """Read the whole catalog (a handful of small tables) into one immutable snapshot."""
    version = await current_version()
    provider_rows = await ProviderRow.select().run()
    route_rows = await RouteRow.select().run()
    plan_rows = await PlanRow.select().run()
    key_rows = await ApiKeyRow.select().where(ApiKeyRow.revoked_at.is_null()).run()
    teams = {r["id"]: _team_record(r) for r in await TeamRow.select().run()}
    providers = {r["name"]: _provider_entry(r, box) for r in provider_rows}
    routes = {r["name"]: _route_entry(r) for r in route_rows}
    plans = {r["name"]: plan_from_row(r) for r in plan_rows}
    keys, grace = _key_records(key_rows, plans, teams)
    return CatalogSnapshot(
        version=version,
        providers=providers,
        routes=routes,
        plans=plans,
        keys=keys,
        key_valid_until=grace,
        models=resolve_table(providers, routes),
        prompts=await _prompts(),
    )


def glob_allows(patterns: tuple[str, ...] | list[str], name: str) -> bool:
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)
