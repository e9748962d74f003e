"""/v1/configs: provider configs (the credential is write-only, shown as a masked hint)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post, put

from app.api.admin.schemas import (
    Limit,
    Offset,
    Provider,
    ProviderCreate,
    ProviderPage,
    ProviderUpdate,
    Ref,
    problems,
    set_fields,
)
from app.catalog.services import providers
from app.catalog.services.context import ServiceContext

__all__ = ["ConfigController"]


class ConfigController(Controller):
    path = "/v1/configs"
    tags = ["providers"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_configs(
        self, kind: str | None = None, enabled: bool | None = None, limit: Limit = 50, offset: Offset = 0
    ) -> ProviderPage:
        """List provider configs, filterable by kind and enabled."""
        found, total = await providers.list_providers(kind=kind, enabled=enabled, limit=limit, offset=offset)
        return ProviderPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_config(self, ctx: ServiceContext, data: ProviderCreate) -> Provider:
        """Create a provider config; it serves traffic as soon as this returns."""
        return await providers.create_provider(ctx, data)

    @get("/{ref:str}", responses=problems(401, 403, 404))
    async def get_config(self, ref: Ref) -> Provider:
        return await providers.get_provider(ref)

    @put("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def replace_config(self, ctx: ServiceContext, ref: Ref, data: ProviderCreate) -> Provider:
        """Replace every field; an absent or null api_key keeps the stored credential."""
        return await providers.replace_provider(ctx, ref, data)

    @patch("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_config(self, ctx: ServiceContext, ref: Ref, data: ProviderUpdate) -> Provider:
        """Change only the fields given."""
        return await providers.update_provider(ctx, ref, set_fields(data))

    @delete("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 422))
    async def delete_config(self, ctx: ServiceContext, ref: Ref, force: bool = False) -> None:
        """Delete; 409 while routes target it unless `force`, which removes those targets too."""
        await providers.delete_provider(ctx, ref, force=force)
