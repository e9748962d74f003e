"""Management API (admin key or JWT): providers, routes, plans, keys, users, usage, health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from litestar import Request, Router
from litestar.di import Provide

from app.api.admin.alerts import AlertController
from app.api.admin.api_keys import ApiKeyController
from app.api.admin.audit import AuditController
from app.api.admin.auth import issue_token, whoami
from app.api.admin.body import MAX_ADMIN_BODY_BYTES, StrictBody, refuse_nul_in_url
from app.api.admin.configs import ConfigController
from app.api.admin.health import HealthController
from app.api.admin.plans import PlanController
from app.api.admin.prompts import PromptController
from app.api.admin.routes import RouteController
from app.api.admin.teams import TeamController
from app.api.admin.usage import usage_router
from app.api.admin.users import UserController
from app.api.auth import ManagementAuth, Principal, TokenCodec, signing_key
from app.catalog.services.context import ServiceContext

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["MAX_ADMIN_BODY_BYTES", "admin_handlers"]


def _principal(request: Request[Any, Any, Any]) -> Principal:
    principal: Principal = request.state.principal
    return principal


def admin_handlers(rt: Runtime) -> list[Any]:
    """Every management route handler / controller, for `create_app` to register."""
    settings = rt.settings
    ctx = ServiceContext.for_server(rt.box, rt.catalog, settings)
    tokens = TokenCodec(signing_key(settings), settings.jwt_ttl_s)
    admins, accounts = ManagementAuth(settings.admin_key, tokens, rt.catalog).guards()
    layer: dict[str, Any] = {
        "dto": StrictBody,
        "return_dto": None,
        "request_max_body_size": MAX_ADMIN_BODY_BYTES,
        "dependencies": {
            "ctx": Provide(lambda: ctx, sync_to_thread=False, use_cache=True),
            "tokens": Provide(lambda: tokens, sync_to_thread=False, use_cache=True),
            "principal": Provide(_principal, sync_to_thread=False),
        },
    }
    return [
        Router("/", route_handlers=[issue_token], guards=[refuse_nul_in_url], **layer),
        Router(
            "/",
            route_handlers=[ApiKeyController, TeamController, whoami],
            guards=[accounts, refuse_nul_in_url],
            **layer,
        ),
        usage_router(rt, tokens),
        Router(
            "/",
            route_handlers=[
                ConfigController,
                RouteController,
                PlanController,
                PromptController,
                UserController,
                HealthController,
                AlertController,
                AuditController,
            ],
            guards=[admins, refuse_nul_in_url],
            **layer,
        ),
    ]
