"""Provider configs: validate (URL, SSRF allow-list, models, headers), write, keep routes consistent."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

import msgspec
from piccolo.columns import Column
from piccolo.custom_types import Combinable

from app.catalog.apply import provider_values
from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.secrets import mask_headers
from app.catalog.services.context import ServiceContext, ensure_api_owned, find_row, writing
from app.catalog.services.records import Provider
from app.catalog.services.validation import FieldProblems, convert_strict
from app.catalog.specs import ModelSpec, ProviderSpec
from app.catalog.store import dump_json, load_json, now
from app.db.paging import list_rows
from app.db.tables import ProviderRow, RouteRow
from app.errors import ConflictError
from app.providers.openai_compatible import QUIRKS

__all__ = [
    "check_provider",
    "create_provider",
    "delete_provider",
    "get_provider",
    "host_allowed",
    "list_providers",
    "replace_provider",
    "update_provider",
]

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def host_allowed(host: str, allowed: Sequence[str]) -> bool:
    """`api.openai.com` matches itself; `*.example.com` matches any subdomain of example.com."""
    host = host.lower().rstrip(".")
    for entry in allowed:
        pattern = entry.strip().lower().rstrip(".")
        if pattern.startswith("*.") and host.endswith(pattern[1:]):
            return True
        if host == pattern:
            return True
    return False


def _check_url(spec: ProviderSpec, allowed: Sequence[str], problems: FieldProblems) -> None:
    url = spec.base_url
    if not url:
        if spec.kind != "demo":
            problems.add("base_url", f"required for kind '{spec.kind}'")
        return
    parts = urlsplit(url)
    if parts.scheme == "inproc":
        if spec.kind != "demo":
            problems.add("base_url", "inproc:// is only for kind 'demo'; use an http(s) URL")
        return
    try:
        host, _ = parts.hostname, parts.port
    except ValueError:
        problems.add("base_url", "not a valid URL: the port is not a number in 0-65535")
        return
    if not host:
        problems.add("base_url", "not a valid URL: it names no host")
    elif parts.username is not None or parts.password is not None:
        problems.add("base_url", "must not embed credentials; set api_key (or headers) instead")
    elif allowed and not host_allowed(host, allowed):
        problems.add("base_url", f"host '{host}' is not an allowed upstream host (POLYROUTE_ALLOWED_UPSTREAM_HOSTS)")


def check_provider(spec: ProviderSpec, allowed_hosts: Sequence[str]) -> None:
    """Rules the struct constraints cannot express; raises a 422 listing every violation."""
    problems = FieldProblems()
    _check_url(spec, allowed_hosts, problems)
    seen: set[str] = set()
    for i, model in enumerate(spec.models):
        if model.id in seen:
            problems.add(f"models[{i}].id", f"duplicate model id '{model.id}'")
        seen.add(model.id)
    for name, value in spec.headers.items():
        if not _HEADER_NAME.match(name):
            problems.add(f"headers.{name}", "not a valid HTTP header name")
        elif "\r" in value or "\n" in value:
            problems.add(f"headers.{name}", "header values may not contain line breaks")
    problems.raise_if_any()


def _spec_from_row(row: dict[str, Any]) -> ProviderSpec:
    options = load_json(row["options"]) or {}
    return ProviderSpec(
        name=row["name"],
        kind=row["kind"],
        base_url=row["base_url"] or None,
        enabled=row["enabled"],
        timeout_s=row["timeout_s"],
        first_token_timeout_s=row["first_token_timeout_s"],
        stall_timeout_s=row["stall_timeout_s"],
        models=msgspec.convert(load_json(row["models"]) or [], list[ModelSpec]),
        headers=load_json(row["headers"]) or {},
        probe_interval_s=float(options.get("probe_interval_s", 30.0)),
        # A row saved before unknown rows were refused reads as none, which is how it has always served.
        quirks=options.get("quirks") if options.get("quirks") in QUIRKS else None,
        max_concurrent=options.get("max_concurrent"),
        batch_cost_factor=options.get("batch_cost_factor"),
        daily_budget_usd=options.get("daily_budget_usd"),
        monthly_budget_usd=options.get("monthly_budget_usd"),
        api_version=options.get("api_version"),
        region=options.get("region"),
    )


def _record(row: dict[str, Any]) -> Provider:
    spec = _spec_from_row(row)
    headers = mask_headers(spec.headers)
    return Provider(
        id=row["id"],
        name=spec.name,
        kind=spec.kind,
        base_url=row["base_url"],
        api_key_hint=row["api_key_hint"],
        enabled=spec.enabled,
        timeout_s=spec.timeout_s,
        first_token_timeout_s=spec.first_token_timeout_s,
        stall_timeout_s=spec.stall_timeout_s,
        probe_interval_s=spec.probe_interval_s,
        quirks=spec.quirks,
        max_concurrent=spec.max_concurrent,
        batch_cost_factor=spec.batch_cost_factor,
        daily_budget_usd=spec.daily_budget_usd,
        monthly_budget_usd=spec.monthly_budget_usd,
        api_version=spec.api_version,
        region=spec.region,
        models=spec.models,
        headers=headers,
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_providers(
    *, kind: str | None = None, enabled: bool | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Provider], int]:
    filters = []
    if kind is not None:
        filters.append(ProviderRow.kind == kind)
    if enabled is not None:
        filters.append(ProviderRow.enabled == enabled)
    rows, total = await list_rows(ProviderRow, filters, [ProviderRow.name], limit, offset)
    return [_record(r) for r in rows], total


async def get_provider(ref: str) -> Provider:
    return _record(await find_row(ProviderRow, ref, ProviderRow.name, "provider"))


async def _ensure_name_free(name: str, except_id: str | None = None) -> None:
    match: Combinable = ProviderRow.name == name
    if except_id is not None:
        match = match & (ProviderRow.id != except_id)
    if await ProviderRow.exists().where(match).run():
        raise ConflictError(f"A provider named '{name}' already exists")


async def _routes_targeting(provider: str) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = await RouteRow.select().order_by(RouteRow.name).run()
    return [r for r in rows if any(t.get("provider") == provider for t in load_json(r["targets"]) or [])]


async def create_provider(ctx: ServiceContext, spec: ProviderSpec) -> Provider:
    check_provider(spec, ctx.allowed_upstream_hosts)
    row_id, stamp = new_id("prov"), now()
    values = provider_values(spec, ctx.box)
    async with writing(ctx, Change("create", "provider", row_id, spec.name, after=values)):
        await _ensure_name_free(spec.name)
        await ProviderRow.insert(ProviderRow(id=row_id, created_at=stamp, updated_at=stamp, **values)).run()
    return await get_provider(row_id)


async def _save(ctx: ServiceContext, row: dict[str, Any], spec: ProviderSpec) -> Provider:
    check_provider(spec, ctx.allowed_upstream_hosts)
    values: dict[Column | str, Any] = {k: v for k, v in provider_values(spec, ctx.box).items()}
    values["updated_at"] = now()
    async with writing(ctx, Change("update", "provider", row["id"], spec.name, before=row, after=values)):
        if spec.name != row["name"]:
            await _ensure_name_free(spec.name, row["id"])
            if users := [r["name"] for r in await _routes_targeting(row["name"])]:
                raise ConflictError(
                    f"Provider '{row['name']}' is a target of routes {', '.join(users)}; "
                    "renaming it would break them, so update those routes first",
                    extra={"routes": users},
                )
        await ProviderRow.update(values).where(ProviderRow.id == row["id"]).run()
    return await get_provider(row["id"])


async def replace_provider(ctx: ServiceContext, ref: str, spec: ProviderSpec) -> Provider:
    """PUT: every field from `spec`; an absent or null `api_key` keeps the stored one, "" removes it."""
    row = await find_row(ProviderRow, ref, ProviderRow.name, "provider")
    ensure_api_owned(ctx, row, f"Provider '{row['name']}'")
    return await _save(ctx, row, spec)


async def update_provider(ctx: ServiceContext, ref: str, patch: Mapping[str, Any]) -> Provider:
    """PATCH: only the fields present; `api_key: null` (or "") removes the credential."""
    row = await find_row(ProviderRow, ref, ProviderRow.name, "provider")
    ensure_api_owned(ctx, row, f"Provider '{row['name']}'")
    merged = {**msgspec.to_builtins(_spec_from_row(row)), **patch}
    if "api_key" in patch and patch["api_key"] is None:
        merged["api_key"] = ""
    return await _save(ctx, row, convert_strict(merged, ProviderSpec))


async def delete_provider(ctx: ServiceContext, ref: str, *, force: bool = False) -> None:
    """409 while routes target it; with `force`, drop those targets (and routes left with none)."""
    row = await find_row(ProviderRow, ref, ProviderRow.name, "provider")
    name = row["name"]
    ensure_api_owned(ctx, row, f"Provider '{name}'")
    routes = await _routes_targeting(name)
    if routes and not force:
        names = [r["name"] for r in routes]
        raise ConflictError(
            f"Provider '{name}' is a target of routes {', '.join(names)}; "
            "remove it from them first, or delete with ?force=true",
            extra={"routes": names},
        )
    for route in routes:
        ensure_api_owned(ctx, route, f"Route '{route['name']}' (which targets provider '{name}')")
    detail = {"routes_changed": [r["name"] for r in routes]} if routes else None
    async with writing(ctx, Change("delete", "provider", row["id"], name, detail=detail)):
        for route in routes:
            kept = [t for t in load_json(route["targets"]) or [] if t.get("provider") != name]
            if kept:
                update: dict[Column | str, Any] = {RouteRow.targets: dump_json(kept), RouteRow.updated_at: now()}
                await RouteRow.update(update).where(RouteRow.id == route["id"]).run()
            else:
                await RouteRow.delete().where(RouteRow.id == route["id"]).run()
        await ProviderRow.delete().where(ProviderRow.id == row["id"]).run()
