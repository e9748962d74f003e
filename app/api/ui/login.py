"""/ui/login and /ui/logout: username + password (or the admin key) for a session cookie."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from litestar import Request, Response, get, post
from litestar.response import Redirect, Template

from app.api.ui.errors import error_page
from app.catalog.services import users
from app.errors import PermissionDeniedError
from app.ui_support.access import CSRF_FIELD
from app.ui_support.forms import text
from app.ui_support.render import page, redirect, safe_next
from app.ui_support.session import (
    ADMIN_KEY_SUBJECT,
    LOGIN_CSRF_COOKIE,
    SESSION_COOKIE,
    SessionCodec,
    is_secure,
    login_csrf_cookie,
    session_cookie,
)
from app.ui_support.throttle import LoginThrottle

__all__ = ["login_form", "login_page", "login_submit", "logout"]


def login_page(request: Request[Any, Any, Any], *, status: int = 200, **context: Any) -> Template:
    """The sign-in form (with its CSRF cookie), and the single sign-on link when a provider is configured."""
    token = secrets.token_urlsafe(32)
    sso = bool(request.app.state.runtime.settings.oidc_issuer)
    values = {"error": None, "username": "", "admin_key_tried": False, "next": "/ui/", "sso": sso, **context}
    response = page(request, "login.html", status=status, login_csrf=token, **values)
    response.cookies.append(login_csrf_cookie(token, secure=is_secure(request)))
    return response


@get("/login", name="ui-login")
async def login_form(request: Request[Any, Any, Any], codec: SessionCodec, next: str | None = None) -> Response[Any]:
    if await codec.viewer(request.cookies.get(SESSION_COOKIE)) is not None:
        return Redirect(path=safe_next(next), status_code=303)
    return login_page(request, next=safe_next(next))


def _client(request: Request[Any, Any, Any]) -> str:
    return request.client.host if request.client else "unknown"


@post("/login", name="ui-login-submit")
async def login_submit(request: Request[Any, Any, Any], codec: SessionCodec, throttle: LoginThrottle) -> Response[Any]:
    form = await request.form()
    expected = request.cookies.get(LOGIN_CSRF_COOKIE, "")
    if not expected or not hmac.compare_digest(text(form, CSRF_FIELD).encode(), expected.encode()):
        raise PermissionDeniedError("The sign-in form expired; reload the page and try again")
    if wait := throttle.retry_after(_client(request)):
        return error_page(request, 429, f"Too many failed sign-ins from your address; try again in {int(wait)} s.")
    username, admin_key, target = text(form, "username"), text(form, "admin_key"), safe_next(text(form, "next"))
    subject: str | None = None
    if admin_key:
        subject = ADMIN_KEY_SUBJECT if codec.admin_key_matches(admin_key) else None
    elif username:
        user = await users.login(username, text(form, "password"))
        subject = user.id if user else None
    if subject is None:
        throttle.failed(_client(request))
        error = "That admin key is not right." if admin_key else "Invalid username or password."
        return login_page(
            request, status=401, error=error, username=username, admin_key_tried=bool(admin_key), next=target
        )
    throttle.succeeded(_client(request))
    secure = is_secure(request)
    response = Redirect(path=target, status_code=303)
    response.cookies.append(session_cookie(codec.issue(subject), secure=secure, max_age=codec.ttl_s))
    response.cookies.append(login_csrf_cookie("", secure=secure))
    return response


@post("/logout", name="ui-logout")
async def logout(request: Request[Any, Any, Any]) -> Response[Any]:
    response = redirect(request, "/ui/login", ("info", "You are signed out."))
    response.cookies.append(session_cookie(None, secure=is_secure(request), max_age=0))
    return response
