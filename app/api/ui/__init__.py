"""The admin UI under /ui: server-rendered pages and htmx fragments over the catalog services."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Router
from litestar.datastructures import CacheControlHeader
from litestar.di import Provide
from litestar.static_files import create_static_files_router

from app.api.auth import signing_key
from app.api.ui.errors import not_found, ui_exception_handlers
from app.api.ui.login import login_form, login_submit, logout
from app.api.ui.sso import sso_callback, sso_start
from app.catalog.services.context import ServiceContext
from app.ui_support.access import access_guards
from app.ui_support.headers import security_headers
from app.ui_support.session import SessionCodec, Viewer
from app.ui_support.templating import STATIC_DIR
from app.ui_support.throttle import LoginThrottle

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["ui_handlers"]


def _viewer(request: Request[Any, Any, Any]) -> Viewer:
    viewer: Viewer = request.state.viewer
    return viewer


def _constant(value: object) -> Provide:
    return Provide(lambda: value, sync_to_thread=False, use_cache=True)


def ui_handlers(rt: Runtime) -> list[Any]:
    """Routers for `create_app`: public (login, 404), signed-in (self-service), admins only, static."""
    from app.api.ui import sections

    settings = rt.settings
    codec = SessionCodec(signing_key(settings), settings.jwt_ttl_s, settings.admin_key)
    ctx = ServiceContext.for_server(rt.box, rt.catalog, settings)
    signed_in, admins = access_guards(codec)
    layer: dict[str, Any] = {
        "middleware": [security_headers],
        "exception_handlers": ui_exception_handlers(),
        "include_in_schema": False,
        "dependencies": {
            "rt": _constant(rt),
            "ctx": _constant(ctx),
            "codec": _constant(codec),
            "throttle": _constant(LoginThrottle()),
            "viewer": Provide(_viewer, sync_to_thread=False),
        },
    }
    return [
        Router("/ui", route_handlers=[login_form, login_submit, sso_start, sso_callback, not_found], **layer),
        Router("/ui", route_handlers=[logout, *sections.ACCOUNT], guards=[signed_in], **layer),
        Router("/ui", route_handlers=sections.ADMIN, guards=[signed_in, admins], **layer),
        create_static_files_router(
            "/ui/static",
            directories=[STATIC_DIR],
            name="ui-static",
            middleware=[security_headers],
            cache_control=CacheControlHeader(max_age=31_536_000, public=True),
            include_in_schema=False,
        ),
    ]
