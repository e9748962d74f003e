"""UI exception handlers: HTML error pages (or a toast for htmx), and the trip to the login page."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, get
from litestar.exceptions import HTTPException
from litestar.response import Redirect, Template

from app.errors import GatewayError, NotFoundError
from app.ui_support.access import LoginRequiredError
from app.ui_support.render import is_htmx, page, toast_headers
from app.ui_support.session import SESSION_COOKIE, SessionCodec

__all__ = ["not_found", "ui_exception_handlers"]

log = logging.getLogger("polyroute.ui")

_TITLES = {
    400: "Bad request",
    401: "Sign in required",
    403: "Not allowed",
    404: "Page not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Too large",
    422: "Invalid input",
    429: "Too many attempts",
    500: "Something went wrong",
}


def error_page(request: Request[Any, Any, Any], status: int, message: str) -> Response[Any]:
    title = _TITLES.get(status, "Error")
    if is_htmx(request):
        return Response(content=message, status_code=status, headers=toast_headers(("error", message)))
    response: Template = page(request, "error.html", status=status, code=status, title=title, message=message)
    return response


def _login_required(request: Request[Any, Any, Any], exc: LoginRequiredError) -> Response[Any]:
    target = "/ui/login?next=" + quote(exc.next_path, safe="")
    if is_htmx(request):
        return Response(content=b"", status_code=401, headers={"HX-Redirect": target})
    return Redirect(path=target, status_code=303)


def _gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[Any]:
    return error_page(request, exc.status_code, exc.detail)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    status = exc.status_code
    message = "There is nothing at this address." if status == 404 else exc.detail
    return error_page(request, status, message)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    log.exception("unhandled UI error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_page(request, 500, "The gateway hit an unexpected error; it has been logged.")


def ui_exception_handlers() -> dict[Any, Any]:
    return {
        LoginRequiredError: _login_required,
        GatewayError: _gateway_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }


@get("/{path:path}", name="ui-not-found")
async def not_found(request: Request[Any, Any, Any], codec: SessionCodec, path: str) -> None:
    """Any other /ui/ address: the 404 page (with the navigation when signed in), not a JSON problem."""
    viewer = await codec.viewer(request.cookies.get(SESSION_COOKIE))
    if viewer is not None:
        request.state.viewer = viewer
    raise NotFoundError("There is nothing at this address.")
