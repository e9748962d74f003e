"""Browser sessions for the admin UI: a short-lived signed token in an HttpOnly cookie.

The token is a JWT signed with a key derived from the secret key for this purpose only (audience
`polyroute-ui`), so a session cookie is useless as a management API bearer token and vice versa.
It carries the per-session CSRF token and is re-issued when half its lifetime has passed, so an
operator who keeps working stays signed in while an abandoned session expires.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass
from typing import Any, Literal

import jwt
from litestar.connection import ASGIConnection
from litestar.datastructures import Cookie

from app.catalog.services.users import active_user

__all__ = [
    "ADMIN_KEY_SUBJECT",
    "LOGIN_CSRF_COOKIE",
    "SESSION_COOKIE",
    "SessionCodec",
    "Viewer",
    "is_secure",
    "login_csrf_cookie",
    "session_cookie",
]

SESSION_COOKIE = "polyroute_session"
LOGIN_CSRF_COOKIE = "polyroute_login_csrf"
ADMIN_KEY_SUBJECT = "admin-key"
_AUDIENCE = "polyroute-ui"
_ALGORITHM = "HS256"


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in person as the UI sees them, re-read from the database on every request."""

    role: Literal["admin", "user"]
    via: Literal["password", "admin-key"]
    csrf: str
    username: str
    user_id: str | None = None
    plan: str | None = None
    refresh: str | None = None
    """A re-issued session token to set on the response (sliding expiry), when due."""
    ttl_s: int = 3600

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


def is_secure(connection: ASGIConnection[Any, Any, Any, Any]) -> bool:
    """TLS here or at the proxy in front (X-Forwarded-Proto): then cookies are marked Secure."""
    forwarded = connection.headers.get("x-forwarded-proto", "")
    return connection.url.scheme == "https" or forwarded.split(",")[0].strip().lower() == "https"


def session_cookie(token: str | None, *, secure: bool, max_age: int) -> Cookie:
    """The session cookie; `None` clears it."""
    return Cookie(
        key=SESSION_COOKIE,
        value=token or "",
        max_age=max_age if token else 0,
        path="/ui",
        httponly=True,
        secure=secure,
        samesite="lax",
    )


def login_csrf_cookie(value: str, *, secure: bool) -> Cookie:
    """Double-submit token for the login form (there is no session to bind it to yet)."""
    return Cookie(
        key=LOGIN_CSRF_COOKIE,
        value=value,
        max_age=3600 if value else 0,
        path="/ui/login",
        httponly=True,
        secure=secure,
        samesite="strict",
    )


class SessionCodec:
    """Issues and checks session tokens; admin-key sessions die when the admin key changes."""

    def __init__(self, signing_key: bytes, ttl_s: int, admin_key: str | None) -> None:
        self._key = hmac.new(signing_key, b"polyroute/ui-session/v1", hashlib.sha256).digest()
        self.ttl_s = ttl_s
        self._admin_fingerprint = self._fingerprint(admin_key) if admin_key else None

    def _fingerprint(self, admin_key: str) -> str:
        return hmac.new(self._key, admin_key.encode(), hashlib.sha256).hexdigest()[:32]

    def admin_key_matches(self, presented: str) -> bool:
        if self._admin_fingerprint is None or not presented:
            return False
        return hmac.compare_digest(self._fingerprint(presented), self._admin_fingerprint)

    def issue(self, subject: str, csrf: str | None = None, now: float | None = None) -> str:
        """A token for a user id, or for ADMIN_KEY_SUBJECT after an admin-key login."""
        issued = int(time.time() if now is None else now)
        claims: dict[str, Any] = {"sub": subject, "aud": _AUDIENCE, "iat": issued, "exp": issued + self.ttl_s}
        claims["csrf"] = csrf or secrets.token_urlsafe(32)
        if subject == ADMIN_KEY_SUBJECT:
            claims["akf"] = self._admin_fingerprint
        return jwt.encode(claims, self._key, algorithm=_ALGORITHM)

    def seal(self, payload: dict[str, Any], audience: str, ttl_s: int) -> str:
        """A short-lived signed token for state the browser carries between two of our pages."""
        issued = int(time.time())
        return jwt.encode({**payload, "aud": audience, "iat": issued, "exp": issued + ttl_s}, self._key, _ALGORITHM)

    def unseal(self, token: str, audience: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = jwt.decode(token, self._key, algorithms=[_ALGORITHM], audience=audience)
        except jwt.InvalidTokenError:
            return None
        return found

    def claims(self, token: str) -> dict[str, Any] | None:
        try:
            found: dict[str, Any] = jwt.decode(
                token, self._key, algorithms=[_ALGORITHM], audience=_AUDIENCE, options={"require": ["exp", "sub"]}
            )
        except jwt.InvalidTokenError:
            return None
        if found["sub"] == ADMIN_KEY_SUBJECT:
            fingerprint = found.get("akf")
            if self._admin_fingerprint is None or not isinstance(fingerprint, str):
                return None
            if not hmac.compare_digest(fingerprint, self._admin_fingerprint):
                return None
        return found if isinstance(found.get("csrf"), str) else None

    async def viewer(self, token: str | None, now: float | None = None) -> Viewer | None:
        """Who the cookie belongs to, or None (absent, forged, expired, account gone or disabled)."""
        claims = self.claims(token) if token else None
        if claims is None:
            return None
        moment = time.time() if now is None else now
        refresh = None
        if claims["exp"] - moment < self.ttl_s / 2:
            refresh = self.issue(claims["sub"], claims["csrf"], moment)
        if claims["sub"] == ADMIN_KEY_SUBJECT:
            return Viewer(
                role="admin",
                via="admin-key",
                csrf=claims["csrf"],
                username="admin key",
                refresh=refresh,
                ttl_s=self.ttl_s,
            )
        user = await active_user(claims["sub"])
        if user is None:
            return None
        return Viewer(
            role=user.role,
            via="password",
            csrf=claims["csrf"],
            username=user.username,
            user_id=user.id,
            plan=user.plan,
            refresh=refresh,
            ttl_s=self.ttl_s,
        )
