"""Prompt templates: create, add versions (never edited in place), publish one, render one, delete."""

from __future__ import annotations

from typing import Any

import msgspec

from app.catalog.audit import Change
from app.catalog.keys import new_id
from app.catalog.services.context import ServiceContext, find_row, writing
from app.catalog.services.records import Prompt, PromptVersion
from app.catalog.services.validation import FieldProblems
from app.catalog.store import dump_json, load_json, now
from app.db.paging import list_rows
from app.db.tables import PromptRow, PromptVersionRow
from app.errors import ConflictError, NotFoundError
from app.prompts.expand import PREFIX
from app.prompts.template import PromptTemplate, RenderError, chat_body, slots

__all__ = [
    "add_version",
    "create_prompt",
    "delete_prompt",
    "get_prompt",
    "get_version",
    "list_prompts",
    "publish",
    "render",
]


def _version(row: dict[str, Any]) -> PromptVersion:
    template = msgspec.convert(load_json(row["body"]), PromptTemplate)
    return PromptVersion(
        version=row["version"], template=template, variables=slots(template), created_at=row["created_at"]
    )


async def _versions(prompt_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Each prompt's version rows, oldest first, in one query."""
    found: dict[str, list[dict[str, Any]]] = {}
    if not prompt_ids:
        return found
    match = PromptVersionRow.prompt_id.is_in(prompt_ids)
    for row in await PromptVersionRow.select().where(match).order_by(PromptVersionRow.version).run():
        found.setdefault(row["prompt_id"], []).append(row)
    return found


def _record(row: dict[str, Any], versions: list[dict[str, Any]]) -> Prompt:
    current = next(v for v in versions if v["version"] == row["published"])
    return Prompt(
        id=row["id"],
        name=row["name"],
        published=row["published"],
        latest=row["latest"],
        current=_version(current),
        versions=[v["version"] for v in versions],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _find(ref: str) -> dict[str, Any]:
    return await find_row(PromptRow, ref, PromptRow.name, "prompt")


def _check(ctx: ServiceContext, template: PromptTemplate) -> None:
    """The model must be routable now (a later catalog change can still break it: then calls say so)."""
    problems = FieldProblems()
    if template.model.startswith(PREFIX):
        problems.add("model", "a prompt cannot name another prompt")
    elif ctx.cache is not None and ctx.cache.snapshot.resolve_name(template.model) is None:
        problems.add("model", f"unknown model '{template.model}'")
    problems.raise_if_any()


async def list_prompts(*, limit: int = 50, offset: int = 0) -> tuple[list[Prompt], int]:
    rows, total = await list_rows(PromptRow, [], [PromptRow.name], limit, offset)
    versions = await _versions([r["id"] for r in rows])
    return [_record(r, versions[r["id"]]) for r in rows], total


async def get_prompt(ref: str) -> Prompt:
    row = await _find(ref)
    return _record(row, (await _versions([row["id"]]))[row["id"]])


async def list_versions(ref: str) -> list[PromptVersion]:
    """Every version of the prompt, newest first."""
    row = await _find(ref)
    return [_version(v) for v in reversed((await _versions([row["id"]]))[row["id"]])]


async def get_version(ref: str, version: int) -> PromptVersion:
    row = await _find(ref)
    found = (
        await PromptVersionRow.select()
        .where((PromptVersionRow.prompt_id == row["id"]) & (PromptVersionRow.version == version))
        .first()
        .run()
    )
    if found is None:
        raise NotFoundError(f"Prompt '{row['name']}' has no version {version}")
    return _version(found)


def _version_row(prompt_id: str, version: int, template: PromptTemplate) -> PromptVersionRow:
    return PromptVersionRow(
        id=new_id("pver"), prompt_id=prompt_id, version=version, body=dump_json(template), created_at=now()
    )


async def create_prompt(ctx: ServiceContext, name: str, template: PromptTemplate) -> Prompt:
    _check(ctx, template)
    if await PromptRow.exists().where(PromptRow.name == name).run():
        raise ConflictError(f"A prompt named '{name}' already exists; PUT it to add a version")
    prompt_id, stamp = new_id("prompt"), now()
    body = msgspec.to_builtins(template)
    async with writing(ctx, Change("create", "prompt", prompt_id, name, after={"version": 1, **body})):
        await PromptRow.insert(
            PromptRow(id=prompt_id, name=name, published=1, latest=1, created_at=stamp, updated_at=stamp)
        ).run()
        await PromptVersionRow.insert(_version_row(prompt_id, 1, template)).run()
    return await get_prompt(prompt_id)


async def add_version(ctx: ServiceContext, ref: str, template: PromptTemplate, *, publish: bool = True) -> Prompt:
    """A new version (the previous ones stay, so `prompt/<name>@N` keeps answering); published unless asked not to."""
    _check(ctx, template)
    row = await _find(ref)
    version = row["latest"] + 1
    update: dict[Any, Any] = {PromptRow.latest: version, PromptRow.updated_at: now()}
    if publish:
        update[PromptRow.published] = version
    detail = {"version": version, "published": version if publish else row["published"]}
    async with writing(ctx, Change("update", "prompt", row["id"], row["name"], detail=detail)):
        # The version number comes from `latest` read before the transaction: a concurrent writer's insert
        # would take the same number, so the update only applies when `latest` is still what was read.
        moved = (
            await PromptRow.update(update)
            .where((PromptRow.id == row["id"]) & (PromptRow.latest == row["latest"]))
            .returning(PromptRow.id)
            .run()
        )
        if not moved:
            raise ConflictError(f"Prompt '{row['name']}' changed meanwhile; try again")
        await PromptVersionRow.insert(_version_row(row["id"], version, template)).run()
    return await get_prompt(row["id"])


async def publish(ctx: ServiceContext, ref: str, version: int) -> Prompt:
    """Serve `version` as `prompt/<name>` (roll back, or forward)."""
    row = await _find(ref)
    await get_version(row["id"], version)
    detail = {"published": {"from": row["published"], "to": version}}
    async with writing(ctx, Change("update", "prompt", row["id"], row["name"], detail=detail)):
        values: dict[Any, Any] = {PromptRow.published: version, PromptRow.updated_at: now()}
        await PromptRow.update(values).where(PromptRow.id == row["id"]).run()
    return await get_prompt(row["id"])


async def delete_prompt(ctx: ServiceContext, ref: str) -> None:
    row = await _find(ref)
    async with writing(ctx, Change("delete", "prompt", row["id"], row["name"])):
        await PromptVersionRow.delete().where(PromptVersionRow.prompt_id == row["id"]).run()
        await PromptRow.delete().where(PromptRow.id == row["id"]).run()


async def render(ref: str, version: int | None, variables: Any) -> dict[str, Any]:
    """The Chat Completions request `model: prompt/<name>[@version]` with these variables becomes."""
    row = await _find(ref)
    found = await get_version(row["id"], version if version is not None else row["published"])
    try:
        return chat_body(found.template, {"variables": variables})
    except RenderError as exc:
        problems = FieldProblems()
        problems.add(exc.param, str(exc))
        problems.raise_if_any()
        raise
