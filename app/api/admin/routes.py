"""/v1/routes: named virtual models (names may contain '/', so `{ref}` is a path parameter)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put

from app.api.admin.schemas import Limit, Offset, Ref, Route, RouteCreate, RoutePage, RouteUpdate, problems, set_fields
from app.catalog.services import routes
from app.catalog.services.context import ServiceContext

__all__ = ["RouteController"]


def _name(ref: str) -> str:
    return ref.lstrip("/")


class RouteController(Controller):
    path = "/v1/routes"
    tags = ["routes"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_routes(
        self, enabled: bool | None = None, strategy: str | None = None, limit: Limit = 50, offset: Offset = 0
    ) -> RoutePage:
        """List routes, filterable by enabled and strategy."""
        found, total = await routes.list_routes(enabled=enabled, strategy=strategy, limit=limit, offset=offset)
        return RoutePage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_route(self, ctx: ServiceContext, data: RouteCreate) -> Route:
        """Create a route; the strategy and every target's provider must exist."""
        return await routes.create_route(ctx, data)

    @get("/{ref:path}", responses=problems(401, 403, 404))
    async def get_route(self, ref: Ref) -> Route:
        return await routes.get_route(_name(ref))

    @put("/{ref:path}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def replace_route(self, ctx: ServiceContext, ref: Ref, data: RouteCreate) -> Route:
        return await routes.replace_route(ctx, _name(ref), data)

    @patch("/{ref:path}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_route(self, ctx: ServiceContext, ref: Ref, data: RouteUpdate) -> Route:
        return await routes.update_route(ctx, _name(ref), set_fields(data))

    @delete("/{ref:path}", responses=problems(401, 403, 404, 409))
    async def delete_route(self, ctx: ServiceContext, ref: Ref) -> None:
        await routes.delete_route(ctx, _name(ref))
