"""/v1/plans: tiers of models and limits."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put

from app.api.admin.schemas import Limit, Offset, Plan, PlanCreate, PlanPage, PlanUpdate, Ref, problems, set_fields
from app.catalog.services import plans
from app.catalog.services.context import ServiceContext

__all__ = ["PlanController"]


class PlanController(Controller):
    path = "/v1/plans"
    tags = ["plans"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_plans(self, limit: Limit = 50, offset: Offset = 0) -> PlanPage:
        found, total = await plans.list_plans(limit=limit, offset=offset)
        return PlanPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_plan(self, ctx: ServiceContext, data: PlanCreate) -> Plan:
        return await plans.create_plan(ctx, data)

    @get("/{ref:str}", responses=problems(401, 403, 404))
    async def get_plan(self, ref: Ref) -> Plan:
        return await plans.get_plan(ref)

    @put("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def replace_plan(self, ctx: ServiceContext, ref: Ref, data: PlanCreate) -> Plan:
        return await plans.replace_plan(ctx, ref, data)

    @patch("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_plan(self, ctx: ServiceContext, ref: Ref, data: PlanUpdate) -> Plan:
        return await plans.update_plan(ctx, ref, set_fields(data))

    @delete("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 422))
    async def delete_plan(self, ctx: ServiceContext, ref: Ref, force: bool = False) -> None:
        """Delete; 409 while active keys or users are on it unless `force`, which revokes those keys."""
        await plans.delete_plan(ctx, ref, force=force)
