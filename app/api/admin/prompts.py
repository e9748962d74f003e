"""/v1/prompts: prompt templates, their versions, which one is published, and what one renders to."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Controller, delete, get, post, put
from litestar.params import Parameter

from app.api.admin.schemas import (
    Limit,
    Offset,
    Prompt,
    PromptCreate,
    PromptPage,
    PromptVersion,
    PromptVersionCreate,
    PublishRequest,
    Ref,
    RenderRequest,
    problems,
)
from app.catalog.services import prompts
from app.catalog.services.context import ServiceContext
from app.prompts.template import PromptTemplate

__all__ = ["PromptController"]

Version = Annotated[int, Parameter(ge=1, le=2**31 - 1, description="A version number")]


def _template(data: PromptTemplate) -> PromptTemplate:
    fields = {f: getattr(data, f) for f in PromptTemplate.__struct_fields__}
    return PromptTemplate(**fields)


class PromptController(Controller):
    path = "/v1/prompts"
    tags = ["prompts"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_prompts(self, limit: Limit = 50, offset: Offset = 0) -> PromptPage:
        found, total = await prompts.list_prompts(limit=limit, offset=offset)
        return PromptPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_prompt(self, ctx: ServiceContext, data: PromptCreate) -> Prompt:
        """Create a prompt with its first version, published."""
        return await prompts.create_prompt(ctx, data.name, _template(data))

    @get("/{ref:str}", responses=problems(401, 403, 404))
    async def get_prompt(self, ref: Ref) -> Prompt:
        return await prompts.get_prompt(ref)

    @put("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def add_version(self, ctx: ServiceContext, ref: Ref, data: PromptVersionCreate) -> Prompt:
        """Add a version (published unless `publish: false`); earlier versions stay callable as `@N`."""
        return await prompts.add_version(ctx, ref, _template(data), publish=data.publish)

    @delete("/{ref:str}", responses=problems(401, 403, 404))
    async def delete_prompt(self, ctx: ServiceContext, ref: Ref) -> None:
        await prompts.delete_prompt(ctx, ref)

    @get("/{ref:str}/versions/{version:int}", responses=problems(400, 401, 403, 404, 422))
    async def get_version(self, ref: Ref, version: Version) -> PromptVersion:
        return await prompts.get_version(ref, version)

    @post("/{ref:str}/publish", status_code=200, responses=problems(400, 401, 403, 404, 413, 422))
    async def publish(self, ctx: ServiceContext, ref: Ref, data: PublishRequest) -> Prompt:
        """Serve another version as `prompt/<name>`: a rollback is publishing the previous one."""
        return await prompts.publish(ctx, ref, data.version)

    @post("/{ref:str}/render", status_code=200, responses=problems(400, 401, 403, 404, 413, 422))
    async def render(self, ref: Ref, data: RenderRequest) -> dict[str, Any]:
        """The Chat Completions request the prompt becomes with these variables (nothing is sent)."""
        rendered = await prompts.render(ref, data.version, data.variables)
        return dict(msgspec.to_builtins(rendered))
