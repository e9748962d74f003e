"""Routes: validate the strategy and every target against the providers, then write."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec
from piccolo.columns import Column
from piccolo.custom_types import Combinable

import hooks
import strategies
from app.catalog.apply import route_values
from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.services.context import ServiceContext, ensure_api_owned, find_row, writing
from app.catalog.services.records import Route
from app.catalog.services.validation import FieldProblems, convert_strict
from app.catalog.specs import TOOL_KINDS, RouteParams, RouteSpec, TargetSpec, serves
from app.catalog.store import load_json, now
from app.db.paging import list_rows
from app.db.tables import ProviderRow, RouteRow
from app.errors import ConflictError

__all__ = [
    "check_route",
    "create_route",
    "delete_route",
    "get_route",
    "list_routes",
    "replace_route",
    "update_route",
]


async def check_route(spec: RouteSpec, hook_defaults: Mapping[str, Mapping[str, Any]] | None = None) -> None:
    """A 422 listing every unknown strategy, provider or provider model the route names, and every
    request hook it cannot build."""
    problems = FieldProblems()
    for where, message in hooks.problems(spec.params.hooks, spec.params.hook_options, hook_defaults):
        problems.add(where, message)
    names = strategies.available()
    if spec.strategy not in names:
        problems.add("strategy", f"unknown strategy '{spec.strategy}'; available: {', '.join(names)}")
    if spec.params.inner is not None and spec.params.inner not in names:
        problems.add("params.inner", f"unknown strategy '{spec.params.inner}'; available: {', '.join(names)}")
    rows = await ProviderRow.select(ProviderRow.name, ProviderRow.models, ProviderRow.kind).run()
    models = {r["name"]: {m.get("id") for m in load_json(r["models"]) or []} for r in rows}
    tool_servers = {r["name"] for r in rows if r["kind"] in TOOL_KINDS}
    for i, target in enumerate(spec.targets):
        if target.provider not in models:
            problems.add(f"targets[{i}].provider", f"unknown provider '{target.provider}'")
        elif target.provider in tool_servers:
            problems.add(f"targets[{i}].provider", f"'{target.provider}' is an MCP server, not a model")
        elif models[target.provider] and not serves(models[target.provider], target.model):
            problems.add(f"targets[{i}].model", f"provider '{target.provider}' has no model '{target.model}'")
    problems.raise_if_any()


def _spec_from_row(row: dict[str, Any]) -> RouteSpec:
    return RouteSpec(
        name=row["name"],
        targets=msgspec.convert(load_json(row["targets"]) or [], list[TargetSpec]),
        strategy=row["strategy"],
        params=msgspec.convert(load_json(row["params"]) or {}, RouteParams),
        enabled=row["enabled"],
    )


def _record(row: dict[str, Any]) -> Route:
    spec = _spec_from_row(row)
    return Route(
        id=row["id"],
        name=spec.name,
        strategy=spec.strategy,
        targets=spec.targets,
        params=spec.params,
        enabled=spec.enabled,
        source=row["source"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def list_routes(
    *, enabled: bool | None = None, strategy: str | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[Route], int]:
    filters = []
    if enabled is not None:
        filters.append(RouteRow.enabled == enabled)
    if strategy is not None:
        filters.append(RouteRow.strategy == strategy)
    rows, total = await list_rows(RouteRow, filters, [RouteRow.name], limit, offset)
    return [_record(r) for r in rows], total


async def get_route(ref: str) -> Route:
    return _record(await find_row(RouteRow, ref, RouteRow.name, "route"))


async def _ensure_name_free(name: str, except_id: str | None = None) -> None:
    match: Combinable = RouteRow.name == name
    if except_id is not None:
        match = match & (RouteRow.id != except_id)
    if await RouteRow.exists().where(match).run():
        raise ConflictError(f"A route named '{name}' already exists")


async def create_route(ctx: ServiceContext, spec: RouteSpec) -> Route:
    row_id, stamp = new_id("route"), now()
    values = route_values(spec)
    async with writing(ctx, Change("create", "route", row_id, spec.name, after=values)):
        await check_route(spec, ctx.hook_options)
        await _ensure_name_free(spec.name)
        await RouteRow.insert(RouteRow(id=row_id, created_at=stamp, updated_at=stamp, **values)).run()
    return await get_route(row_id)


async def _save(ctx: ServiceContext, row: dict[str, Any], spec: RouteSpec) -> Route:
    values: dict[Column | str, Any] = {k: v for k, v in route_values(spec).items()}
    values["updated_at"] = now()
    async with writing(ctx, Change("update", "route", row["id"], spec.name, before=row, after=values)):
        await check_route(spec, ctx.hook_options)
        if spec.name != row["name"]:
            await _ensure_name_free(spec.name, row["id"])
        await RouteRow.update(values).where(RouteRow.id == row["id"]).run()
    return await get_route(row["id"])


async def replace_route(ctx: ServiceContext, ref: str, spec: RouteSpec) -> Route:
    row = await find_row(RouteRow, ref, RouteRow.name, "route")
    ensure_api_owned(ctx, row, f"Route '{row['name']}'")
    return await _save(ctx, row, spec)


async def update_route(ctx: ServiceContext, ref: str, patch: Mapping[str, Any]) -> Route:
    row = await find_row(RouteRow, ref, RouteRow.name, "route")
    ensure_api_owned(ctx, row, f"Route '{row['name']}'")
    merged = {**msgspec.to_builtins(_spec_from_row(row)), **patch}
    return await _save(ctx, row, convert_strict(merged, RouteSpec))


async def delete_route(ctx: ServiceContext, ref: str) -> None:
    row = await find_row(RouteRow, ref, RouteRow.name, "route")
    ensure_api_owned(ctx, row, f"Route '{row['name']}'")
    async with writing(ctx, Change("delete", "route", row["id"], row["name"])):
        await RouteRow.delete().where(RouteRow.id == row["id"]).run()
