"""Page and fragment responses, flash messages, toasts and redirects that work with and without htmx."""

from __future__ import annotations

import json
from typing import Any, Literal
from urllib.parse import quote, unquote

from litestar import Request, Response
from litestar.datastructures import Cookie
from litestar.response import Redirect, Template

from app.ui_support.session import Viewer, is_secure, session_cookie

__all__ = ["FLASH_COOKIE", "Flash", "fragment", "is_htmx", "page", "redirect", "safe_next", "toast_headers"]

FLASH_COOKIE = "polyroute_flash"
Kind = Literal["success", "error", "info"]
Flash = tuple[Kind, str]


def is_htmx(request: Request[Any, Any, Any]) -> bool:
    return request.headers.get("hx-request") == "true"


def safe_next(target: str | None, default: str = "/ui/") -> str:
    """Only same-site UI paths: never `//evil.example` or an absolute URL."""
    if not target or not target.startswith("/ui") or target.startswith("//") or "\\" in target or ".." in target:
        return default
    return target


def _viewer(request: Request[Any, Any, Any]) -> Viewer | None:
    found = getattr(request.state, "viewer", None)
    return found if isinstance(found, Viewer) else None


def _read_flash(request: Request[Any, Any, Any]) -> Flash | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw:
        return None
    kind, _, message = unquote(raw).partition("|")
    if kind not in ("success", "error", "info") or not message:
        return None
    return kind, message[:300]  # type: ignore[return-value]  # narrowed by the membership test above


def _cookies(request: Request[Any, Any, Any], flash: Flash | None, consumed: bool) -> list[Cookie]:
    cookies: list[Cookie] = []
    secure = is_secure(request)
    if flash is not None:
        value = quote(f"{flash[0]}|{flash[1]}"[:300])
        cookies.append(Cookie(key=FLASH_COOKIE, value=value, max_age=60, path="/ui", httponly=True, secure=secure))
    elif consumed:
        cookies.append(Cookie(key=FLASH_COOKIE, value="", max_age=0, path="/ui", httponly=True, secure=secure))
    viewer = _viewer(request)
    if viewer is not None and viewer.refresh:
        cookies.append(session_cookie(viewer.refresh, secure=secure, max_age=viewer.ttl_s))
    return cookies


def page(request: Request[Any, Any, Any], template: str, *, status: int = 200, **context: Any) -> Template:
    """A whole page: the layout gets the viewer, the CSRF token and any pending flash message."""
    flash = _read_flash(request)
    viewer = _viewer(request)
    base = {"viewer": viewer, "csrf": viewer.csrf if viewer else "", "path": request.url.path, "flash": flash}
    return Template(
        template_name=template,
        context={**base, **context},
        status_code=status,
        cookies=_cookies(request, None, flash is not None),
    )


def fragment(
    request: Request[Any, Any, Any], template: str, *, status: int = 200, toast: Flash | None = None, **context: Any
) -> Template:
    """A `_name.html` fragment returned alone to htmx, optionally with a toast."""
    viewer = _viewer(request)
    base = {"viewer": viewer, "csrf": viewer.csrf if viewer else "", "path": request.url.path, "flash": None}
    return Template(
        template_name=template,
        context={**base, **context},
        status_code=status,
        headers=toast_headers(toast),
        cookies=_cookies(request, None, False),
    )


def toast_headers(toast: Flash | None) -> dict[str, str]:
    if toast is None:
        return {}
    event = {"polyroute:toast": {"kind": toast[0], "message": toast[1]}}
    return {"HX-Trigger": json.dumps(event, ensure_ascii=True)}


def redirect(request: Request[Any, Any, Any], url: str, flash: Flash | None = None) -> Response[Any]:
    """303 for a plain form post; `HX-Redirect` for htmx, which then loads the page in full."""
    cookies = _cookies(request, flash, False)
    if is_htmx(request):
        return Response(content=b"", status_code=200, headers={"HX-Redirect": url}, cookies=cookies)
    return Redirect(path=url, status_code=303, cookies=cookies)
