"""/v1/auth: log in for a short-lived JWT, and ask who the credentials belong to."""

from __future__ import annotations

from litestar import get, post

from app.api.admin.schemas import Me, TokenRequest, TokenResponse, problems
from app.api.auth import Principal, TokenCodec
from app.catalog.services import users
from app.errors import AuthenticationError

__all__ = ["issue_token", "whoami"]


@post("/v1/auth/token", status_code=200, tags=["auth"], responses=problems(400, 401, 413, 422))
async def issue_token(tokens: TokenCodec, data: TokenRequest) -> TokenResponse:
    """Exchange a username and password (JSON or form-encoded) for a bearer token."""
    user = await users.login(data.username, data.password)
    if user is None:
        raise AuthenticationError("Invalid username or password")
    return TokenResponse(access_token=tokens.issue(user), expires_in=tokens.ttl_s)


@get("/v1/auth/me", tags=["auth"], responses=problems(401, 403))
async def whoami(principal: Principal) -> Me:
    """Who the presented credentials belong to."""
    return Me(
        role=principal.role,
        via=principal.via,
        user_id=principal.user_id,
        username=principal.username,
        plan=principal.plan,
    )
