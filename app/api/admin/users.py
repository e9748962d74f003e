"""/v1/users: admin and plan-bound user accounts (the password is write-only)."""

from __future__ import annotations

from litestar import Controller, delete, get, patch, post

from app.api.admin.schemas import Limit, Offset, Ref, User, UserCreate, UserPage, UserUpdate, problems
from app.catalog.services import users
from app.catalog.services.context import ServiceContext

__all__ = ["UserController"]


class UserController(Controller):
    path = "/v1/users"
    tags = ["users"]

    @get("/", responses=problems(400, 401, 403, 422))
    async def list_users(self, role: str | None = None, limit: Limit = 50, offset: Offset = 0) -> UserPage:
        found, total = await users.list_users(role=role, limit=limit, offset=offset)
        return UserPage(data=found, total=total, limit=limit, offset=offset)

    @post("/", responses=problems(400, 401, 403, 409, 413, 422))
    async def create_user(self, ctx: ServiceContext, data: UserCreate) -> User:
        """Create an account; role `user` needs a plan, which every key the user creates gets."""
        return await users.create_user(ctx, data)

    @get("/{ref:str}", responses=problems(401, 403, 404))
    async def get_user(self, ref: Ref) -> User:
        return await users.get_user(ref)

    @patch("/{ref:str}", responses=problems(400, 401, 403, 404, 409, 413, 422))
    async def update_user(self, ctx: ServiceContext, ref: Ref, data: UserUpdate) -> User:
        """Change only the fields given; a new plan also moves the user's active keys."""
        return await users.update_user(ctx, ref, data)

    @delete("/{ref:str}", responses=problems(401, 403, 404))
    async def delete_user(self, ctx: ServiceContext, ref: Ref) -> None:
        """Delete the account and revoke its keys."""
        await users.delete_user(ctx, ref)
