"""Management API credentials: the admin key, user JWTs, and the guards that admit them."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import jwt
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.catalog.audit import ACTOR, Actor
from app.catalog.cache import CatalogCache
from app.catalog.secrets import SecretBox
from app.catalog.services.records import User
from app.catalog.services.users import active_user
from app.errors import AuthenticationError, PermissionDeniedError
from app.gateway.keys import presented_key
from app.settings import Settings

__all__ = ["Guard", "ManagementAuth", "Principal", "TokenCodec", "signing_key"]

Guard = Callable[[ASGIConnection[Any, Any, Any, Any], BaseRouteHandler], Awaitable[None]]

_ISSUER = "polyroute"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling the management API."""

    role: Literal["admin", "user"]
    via: Literal["admin-key", "token"]
    user_id: str | None = None
    username: str | None = None
    plan: str | None = None

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    @property
    def actor(self) -> Actor:
        """Who the audit log names for this caller's changes."""
        return Actor(self.username or "admin key", "api", self.user_id)


ADMIN_KEY_PRINCIPAL = Principal(role="admin", via="admin-key")


def signing_key(settings: Settings) -> bytes:
    """HS256 key derived from the secret key (env or data dir), so every replica signs alike."""
    if settings.secret_key:
        material = settings.secret_key.encode()
    else:
        SecretBox.from_settings(None, settings.data_dir)  # creates the key file on first run
        material = (Path(settings.data_dir) / "polyroute.secret").read_bytes().strip()
    return hmac.new(material, b"polyroute/jwt/v1", hashlib.sha256).digest()


class TokenCodec:
    """Short-lived HS256 JWTs for admin and user accounts."""

    def __init__(self, key: bytes, ttl_s: int) -> None:
        self._key = key
        self.ttl_s = ttl_s

    def issue(self, user: User, now: float | None = None) -> str:
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {"sub": user.id, "name": user.username, "role": user.role, "iss": _ISSUER}
        claims |= {"iat": issued, "exp": issued + self.ttl_s}
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def subject(self, token: str) -> str:
        """The user id the token was issued to; 401 when forged, malformed or expired."""
        try:
            claims = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], issuer=_ISSUER, options={"require": ["exp", "iat", "sub"]}
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("Token expired; get a new one from POST /v1/auth/token") from None
        except jwt.InvalidTokenError:
            raise AuthenticationError("Invalid token") from None
        return str(claims["sub"])


def _bearer(headers: Any) -> str | None:
    auth = headers.get("authorization")
    if not auth:
        return None
    scheme, _, token = auth.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


class ManagementAuth:
    """Resolves the caller and provides the two guards: admins only, or any account (own keys)."""

    def __init__(self, admin_key: str | None, tokens: TokenCodec, catalog: CatalogCache) -> None:
        self._admin_key = admin_key.encode() if admin_key else None
        self.tokens = tokens
        self._catalog = catalog

    def _is_inference_key(self, secret: str) -> bool:
        return hashlib.sha256(secret.encode()).hexdigest() in self._catalog.snapshot.keys

    async def principal(self, headers: Any) -> Principal:
        token = _bearer(headers)
        if token is None:
            other = presented_key(headers)
            if other and self._is_inference_key(other):
                raise PermissionDeniedError("Inference API keys cannot use the management API")
            raise AuthenticationError("Missing credentials: send 'Authorization: Bearer <admin key or token>'")
        if self._admin_key is not None and hmac.compare_digest(token.encode(), self._admin_key):
            return ADMIN_KEY_PRINCIPAL
        if self._is_inference_key(token):
            raise PermissionDeniedError(
                "Inference API keys cannot use the management API; use the admin key or a token from /v1/auth/token"
            )
        if token.count(".") != 2:
            raise AuthenticationError("Invalid credentials")
        user = await active_user(self.tokens.subject(token))
        if user is None:
            raise AuthenticationError("The account behind this token no longer exists or is disabled")
        return Principal(role=user.role, via="token", user_id=user.id, username=user.username, plan=user.plan)

    def guards(self) -> tuple[Guard, Guard]:
        """(admins only, any account): Litestar guards that leave the caller in `state.principal`.

        Plain closures, not bound methods: Litestar deep-copies layer guards, and a bound method
        would take a stale copy of the catalog cache along with it.
        """

        async def admins(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
            principal = await self.principal(connection.headers)
            if not principal.is_admin:
                raise PermissionDeniedError("This endpoint is for admins; user tokens may only manage their own keys")
            connection.state.principal = principal
            ACTOR.set(principal.actor)

        async def accounts(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
            """Any account; handlers scope users to their own objects."""
            connection.state.principal = principal = await self.principal(connection.headers)
            ACTOR.set(principal.actor)

        return admins, accounts
