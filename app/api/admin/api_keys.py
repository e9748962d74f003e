"""/v1/api-keys: admins manage every key; users with a token manage their own and their teams' (as team admin)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post

from app.api.admin.schemas import (
    ApiKey,
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyUpdate,
    Limit,
    Offset,
    RotateRequest,
    problems,
    set_fields,
)
from app.api.auth import Principal
from app.catalog.services import api_keys
from app.catalog.services.context import ServiceContext

__all__ = ["ApiKeyController"]


async def _scope(principal: Principal) -> api_keys.KeyScope:
    return await api_keys.key_scope(principal.user_id, admin=principal.is_admin)


class ApiKeyController(Controller):
    path = "/v1/api-keys"
    tags = ["api-keys"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_keys(
        self,
        principal: Principal,
        plan: str | None = None,
        user_id: str | None = None,
        team_id: str | None = None,
        revoked: bool | None = None,
        limit: Limit = 50,
        offset: Offset = 0,
    ) -> ApiKeyPage:
        """List keys (never their secrets); a user sees their own and those of the teams they administer."""
        scope = await _scope(principal)
        found, total = await api_keys.list_keys(
            user_id=scope.user_id or user_id,
            teams=scope.teams,
            plan=plan,
            team_id=team_id,
            revoked=revoked,
            limit=limit,
            offset=offset,
        )
        return ApiKeyPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 413, 422))
    async def create_key(self, ctx: ServiceContext, principal: Principal, data: ApiKeyCreate) -> ApiKeyCreated:
        """Create a key; the response is the only time its secret is shown."""
        if principal.is_admin:
            return await api_keys.create_key(ctx, data)
        assert principal.user_id is not None
        return await api_keys.create_user_key(ctx, principal.user_id, data)

    @get("/{key_id:str}", responses=problems(401, 403, 404))
    async def get_key(self, principal: Principal, key_id: str) -> ApiKey:
        return await api_keys.get_key(key_id, **(await _scope(principal))._asdict())

    @patch("/{key_id:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_key(self, ctx: ServiceContext, principal: Principal, key_id: str, data: ApiKeyUpdate) -> ApiKey:
        """Rename a key and/or replace its metadata; the secret, plan and limits stay."""
        fields = set_fields(data)
        scope = await _scope(principal)
        return await api_keys.update_key(
            ctx, key_id, name=fields.get("name"), metadata=fields.get("metadata"), **scope._asdict()
        )

    @delete("/{key_id:str}", status_code=200, responses=problems(401, 403, 404, 409))
    async def revoke_key(self, ctx: ServiceContext, principal: Principal, key_id: str) -> ApiKey:
        """Revoke: the key stops working on this replica before the response, on others within seconds."""
        return await api_keys.revoke_key(ctx, key_id, **(await _scope(principal))._asdict())

    @post("/{key_id:str}/rotate", status_code=200, responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def rotate_key(
        self, ctx: ServiceContext, principal: Principal, key_id: str, data: RotateRequest | None = None
    ) -> ApiKeyCreated:
        """Issue a new secret; the old one keeps working for `grace_period_s` (default 0)."""
        grace = data.grace_period_s if data is not None else 0
        return await api_keys.rotate_key(ctx, key_id, grace, **(await _scope(principal))._asdict())
