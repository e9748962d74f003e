"""Apply the declarative config file as idempotent upserts; the file owns what it names."""

from __future__ import annotations

from typing import Any

import msgspec

from app.catalog.audit import ACTOR, Actor, Change, Resource, diff, record
from app.catalog.keys import hash_secret, new_id, visible_prefix
from app.catalog.secrets import SecretBox, mask
from app.catalog.services import prompts
from app.catalog.services.context import ServiceContext
from app.catalog.specs import ApiKeySpec, ConfigFile, PlanSpec, PromptSpec, ProviderSpec, RouteSpec, TeamSpec
from app.catalog.store import bump_version, dump_json, now
from app.db.tables import ApiKeyRow, PlanRow, PromptRow, ProviderRow, RouteRow, TeamRow
from app.prompts.template import PromptTemplate

__all__ = ["apply_config", "plan_values", "provider_values", "route_values", "team_values"]


def provider_values(spec: ProviderSpec, box: SecretBox) -> dict[str, Any]:
    options: dict[str, Any] = {"probe_interval_s": spec.probe_interval_s}
    if spec.quirks:
        options["quirks"] = spec.quirks
    if spec.max_concurrent is not None:
        options["max_concurrent"] = spec.max_concurrent
    if spec.batch_cost_factor is not None:
        options["batch_cost_factor"] = spec.batch_cost_factor
    for budget in ("daily_budget_usd", "monthly_budget_usd"):
        if getattr(spec, budget) is not None:
            options[budget] = getattr(spec, budget)
    if spec.api_version is not None:
        options["api_version"] = spec.api_version
    if spec.region is not None:
        options["region"] = spec.region
    values: dict[str, Any] = {
        "name": spec.name,
        "kind": spec.kind,
        "base_url": spec.base_url or ("inproc://demo" if spec.kind == "demo" else ""),
        "enabled": spec.enabled,
        "timeout_s": spec.timeout_s,
        "first_token_timeout_s": spec.first_token_timeout_s,
        "stall_timeout_s": spec.stall_timeout_s,
        "models": dump_json([msgspec.to_builtins(m) for m in spec.models]),
        "headers": dump_json(spec.headers),
        "options": dump_json(options),
    }
    if spec.api_key is not None:
        values["api_key_enc"] = box.encrypt(spec.api_key) if spec.api_key else None
        values["api_key_hint"] = mask(spec.api_key) if spec.api_key else None
    return values


def route_values(spec: RouteSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "strategy": spec.strategy,
        "params": dump_json(spec.params),
        "targets": dump_json(spec.targets),
        "enabled": spec.enabled,
    }


def plan_options(spec: PlanSpec) -> dict[str, Any]:
    """The plan's settings that have no column of their own."""
    options: dict[str, Any] = {} if spec.cache else {"cache": False}
    if spec.daily_budget_usd is not None:
        options["daily_budget_usd"] = spec.daily_budget_usd
    if spec.end_user_limits is not None:
        options["end_user_limits"] = msgspec.to_builtins(spec.end_user_limits)
    if spec.user_limits is not None:
        options["user_limits"] = msgspec.to_builtins(spec.user_limits)
    return options


def plan_values(spec: PlanSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "models": dump_json(spec.models),
        "targets": dump_json(spec.targets),
        "daily_requests": spec.daily_requests,
        "rpm": spec.rpm,
        "tpm": spec.tpm,
        "monthly_budget_usd": spec.monthly_budget_usd,
        "options": dump_json(plan_options(spec)),
    }


def team_values(spec: TeamSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "plan": spec.plan,
        "models": dump_json(spec.models) if spec.models is not None else None,
        "limits": dump_json(spec.limits),
    }


def _key_values(spec: ApiKeySpec, teams: dict[str, TeamSpec], team_ids: dict[str, str]) -> dict[str, Any]:
    team = teams[spec.team] if spec.team is not None else None
    return {
        "name": spec.name,
        "prefix": visible_prefix(spec.key),
        "key_hash": hash_secret(spec.key),
        "plan": spec.plan if spec.plan is not None or team is None else team.plan,
        "team_id": team_ids[team.name] if team is not None else None,
        "allowed_models": dump_json(spec.allowed_models) if spec.allowed_models is not None else None,
        "overrides": dump_json(spec.limits),
        "metadata": dump_json(spec.metadata),
        "expires_at": spec.expires_at,
        "revoked_at": None,
    }


async def _upsert(
    table: type[Any], kind: str, match: Any, values: dict[str, Any], what: tuple[Resource, str], box: SecretBox
) -> None:
    """Insert or update one object; the audit log records it only when something changed (a restart with
    the same file leaves no trace)."""
    stamp = now()
    existing = await table.select().where(match).first().run()
    values = {**values, "source": "config", "updated_at": stamp}
    if existing is None:
        row_id = new_id(kind)
        await table.insert(table(id=row_id, created_at=stamp, **values)).run()
        await record(Change("create", what[0], row_id, what[1], after=values))
        return
    old_secret, new_secret = existing.get("api_key_enc"), values.get("api_key_enc")
    if old_secret and new_secret and box.decrypt(old_secret) == box.decrypt(new_secret):
        del values["api_key_enc"]  # the same credential: keep its ciphertext (Fernet's differs per call)
    await table.update(values).where(table.id == existing["id"]).run()
    if diff(existing, values):
        await record(Change("update", what[0], existing["id"], what[1], before=existing, after=values))


async def apply_config(cfg: ConfigFile, box: SecretBox) -> int:
    """Upsert every object the file names (by name) and bump the catalog version."""
    ACTOR.set(Actor("config file", "system"))
    for provider in cfg.providers:
        values = provider_values(provider, box)
        await _upsert(ProviderRow, "prov", ProviderRow.name == provider.name, values, ("provider", provider.name), box)
    for plan in cfg.plans:
        await _upsert(PlanRow, "plan", PlanRow.name == plan.name, plan_values(plan), ("plan", plan.name), box)
    for route in cfg.routes:
        await _upsert(RouteRow, "route", RouteRow.name == route.name, route_values(route), ("route", route.name), box)
    for team in cfg.teams:
        await _upsert(TeamRow, "team", TeamRow.name == team.name, team_values(team), ("team", team.name), box)
    teams = {t.name: t for t in cfg.teams}
    team_ids = {r["name"]: r["id"] for r in await TeamRow.select(TeamRow.id, TeamRow.name).run()}
    for key in cfg.api_keys:
        values = _key_values(key, teams, team_ids)
        match = (ApiKeyRow.name == key.name) & (ApiKeyRow.source == "config")
        clash = (
            await ApiKeyRow.select(ApiKeyRow.id)
            .where((ApiKeyRow.key_hash == values["key_hash"]) & (ApiKeyRow.name != key.name))
            .first()
            .run()
        )
        if clash:
            await ApiKeyRow.delete().where(ApiKeyRow.id == clash["id"]).run()
        await _upsert(ApiKeyRow, "key", match, values, ("api_key", key.name), box)
    for prompt in cfg.prompts:
        await _apply_prompt(prompt, box)
    return await bump_version()


async def _apply_prompt(spec: PromptSpec, box: SecretBox) -> None:
    """The file's template is the published version: created, published again, or added as a new version
    (the earlier ones stay, so `prompt/<name>@N` keeps answering). Unchanged, nothing is written."""
    ctx = ServiceContext(box)  # no cache: the file's own checks have placed the model
    template = PromptTemplate(**{f: getattr(spec, f) for f in PromptTemplate.__struct_fields__})
    row = await PromptRow.select().where(PromptRow.name == spec.name).first().run()
    if row is None:
        await prompts.create_prompt(ctx, spec.name, template)
        return
    wanted = dump_json(template)
    latest = await prompts.get_version(row["id"], row["latest"])
    if dump_json(latest.template) != wanted:
        await prompts.add_version(ctx, row["id"], template)
    elif row["published"] != row["latest"]:
        await prompts.publish(ctx, row["id"], row["latest"])
