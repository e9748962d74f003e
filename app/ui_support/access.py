"""Who may reach a UI page: the signed-in guard, the admins-only guard, and the CSRF check.

CSRF uses the synchronizer-token pattern: every session token carries a random `csrf` claim, the
page repeats it in a `<meta>` tag, in `hx-headers` on `<body>` (so every htmx request sends
`X-CSRF-Token`) and in a hidden `_csrf` field of every plain form. A state-changing request whose
token is missing or differs is refused with 403 before its handler runs.
"""

from __future__ import annotations

import hmac
from typing import Any

from litestar import Request
from litestar.connection import ASGIConnection
from litestar.handlers.base import BaseRouteHandler

from app.api.auth import Guard
from app.catalog.audit import ACTOR, Actor
from app.errors import PermissionDeniedError
from app.ui_support.session import SESSION_COOKIE, SessionCodec, Viewer

__all__ = ["CSRF_FIELD", "CSRF_HEADER", "SAFE_METHODS", "LoginRequiredError", "access_guards", "viewer_of"]

CSRF_HEADER = "x-csrf-token"
CSRF_FIELD = "_csrf"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


class LoginRequiredError(Exception):
    """No valid session: the UI's exception handler sends the browser to the login page."""

    def __init__(self, next_path: str) -> None:
        super().__init__("sign in required")
        self.next_path = next_path


def viewer_of(connection: ASGIConnection[Any, Any, Any, Any]) -> Viewer:
    viewer: Viewer = connection.state.viewer
    return viewer


async def _presented_csrf(connection: ASGIConnection[Any, Any, Any, Any]) -> str:
    header = connection.headers.get(CSRF_HEADER)
    if header:
        return header
    if isinstance(connection, Request):
        value = (await connection.form()).get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


def access_guards(codec: SessionCodec) -> tuple[Guard, Guard]:
    """(signed in + CSRF on unsafe methods, admins only): leaves the Viewer in `state.viewer`."""

    async def signed_in(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        viewer = await codec.viewer(connection.cookies.get(SESSION_COOKIE))
        if viewer is None:
            query = connection.url.query
            raise LoginRequiredError(connection.url.path + (f"?{query}" if query else ""))
        connection.state.viewer = viewer
        ACTOR.set(Actor(viewer.username, "ui", viewer.user_id))
        if isinstance(connection, Request) and connection.method not in SAFE_METHODS:
            presented = await _presented_csrf(connection)
            if not presented or not hmac.compare_digest(presented.encode(), viewer.csrf.encode()):
                raise PermissionDeniedError("The form's security token is missing or out of date; reload the page")

    async def admins(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
        if not viewer_of(connection).is_admin:
            raise PermissionDeniedError("This page is for administrators")

    return signed_in, admins
