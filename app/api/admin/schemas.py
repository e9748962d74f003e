"""Management API wire shapes: the X / XCreate / XUpdate trio per resource, pages, problems."""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

import msgspec
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter
from msgspec import UNSET, Meta, UnsetType

from app.alerts.store import Alert
from app.catalog.audit import AuditEvent
from app.catalog.services.api_keys import MAX_GRACE_S, KeyDraft
from app.catalog.services.records import (
    ApiKey,
    ApiKeyCreated,
    Plan,
    Prompt,
    PromptVersion,
    Provider,
    Route,
    Team,
    User,
)
from app.catalog.services.users import UserChanges, UserDraft
from app.catalog.specs import (
    ApiVersion,
    Count,
    EndUserLimits,
    Kind,
    ModelSpec,
    Money,
    Name,
    PlanSpec,
    PositiveSeconds,
    PromptSpec,
    ProviderSpec,
    Region,
    RouteName,
    RouteParams,
    RouteSpec,
    TargetSpec,
    TeamSpec,
    Url,
)
from app.prompts.template import PromptTemplate

__all__ = [
    "ApiKey",
    "ApiKeyCreate",
    "ApiKeyCreated",
    "ApiKeyPage",
    "ApiKeyUpdate",
    "Limit",
    "Me",
    "Offset",
    "Plan",
    "PlanCreate",
    "PlanPage",
    "PlanUpdate",
    "Problem",
    "Prompt",
    "PromptCreate",
    "PromptPage",
    "PromptVersion",
    "PromptVersionCreate",
    "Provider",
    "ProviderCreate",
    "ProviderPage",
    "ProviderUpdate",
    "PublishRequest",
    "Ref",
    "RenderRequest",
    "RotateRequest",
    "Route",
    "RouteCreate",
    "RoutePage",
    "RouteUpdate",
    "Team",
    "TeamCreate",
    "TeamMemberSet",
    "TeamPage",
    "TeamUpdate",
    "TokenRequest",
    "TokenResponse",
    "User",
    "UserCreate",
    "UserPage",
    "UserUpdate",
    "problems",
    "set_fields",
]


def set_fields(update: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried (UNSET ones are left out), as builtins."""
    fields: dict[str, Any] = msgspec.to_builtins(update)
    return fields


# -- problems ----------------------------------------------------------------------------------


class FieldProblem(msgspec.Struct):
    field: str
    """Dotted path of the offending field, e.g. `models[0].input_cost_per_mtok`."""
    message: str


class ErrorMember(msgspec.Struct):
    """The OpenAI-SDK-shaped `error` member."""

    message: str
    type: str
    code: str
    param: str | None = None


class Problem(msgspec.Struct):
    """RFC 9457 problem document (application/problem+json)."""

    type: str
    title: str
    status: int
    detail: str
    code: str
    error: ErrorMember
    trace_id: str | None = None
    errors: list[FieldProblem] | None = None
    """422 only: every field that failed validation."""


_DESCRIPTIONS = {
    400: "Malformed request: body is not a JSON object, or a query parameter value the handler refused",
    401: "Missing, invalid or expired credentials",
    403: "Valid credentials that may not do this (inference API keys, user tokens outside their keys)",
    404: "No such object",
    409: "Conflict: duplicate name, object still in use, or owned by the config file",
    413: "Request body too large",
    422: "Validation failed (body fields or typed query parameters); `errors` names every bad field",
}


def problems(*statuses: int) -> dict[int, ResponseSpec]:
    """OpenAPI `responses=` for the error statuses a handler can return (400 always: bad parameters)."""
    return {
        status: ResponseSpec(
            data_container=Problem,
            description=_DESCRIPTIONS[status],
            media_type="application/problem+json",
            generate_examples=False,
        )
        for status in sorted({400, *statuses})
    }


# -- providers (/v1/configs) -------------------------------------------------------------------


class ProviderCreate(ProviderSpec, forbid_unknown_fields=True):
    """POST and PUT body. `api_key` is write-only: on PUT, absent or null keeps the stored key, "" removes it."""


class ProviderUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH body: absent fields keep their value; `api_key: null` removes the credential."""

    name: Name | UnsetType = UNSET
    kind: Kind | UnsetType = UNSET
    base_url: Url | UnsetType | None = UNSET
    api_key: str | UnsetType | None = UNSET
    enabled: bool | UnsetType = UNSET
    timeout_s: PositiveSeconds | UnsetType = UNSET
    first_token_timeout_s: PositiveSeconds | UnsetType | None = UNSET
    stall_timeout_s: PositiveSeconds | UnsetType | None = UNSET
    models: list[ModelSpec] | UnsetType = UNSET
    headers: dict[str, str] | UnsetType = UNSET
    probe_interval_s: Annotated[float, Meta(ge=0)] | UnsetType = UNSET
    quirks: str | UnsetType | None = UNSET
    max_concurrent: Annotated[int, Meta(ge=1, le=100_000)] | UnsetType | None = UNSET
    batch_cost_factor: Annotated[float, Meta(ge=0, le=1)] | UnsetType | None = UNSET
    daily_budget_usd: Money | UnsetType | None = UNSET
    monthly_budget_usd: Money | UnsetType | None = UNSET
    api_version: ApiVersion | UnsetType | None = UNSET
    region: Region | UnsetType | None = UNSET


class ProviderPage(msgspec.Struct):
    data: list[Provider]
    total: int
    limit: int
    offset: int


# -- routes ------------------------------------------------------------------------------------


class RouteCreate(RouteSpec, forbid_unknown_fields=True):
    """POST and PUT body."""


class RouteUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: RouteName | UnsetType = UNSET
    targets: Annotated[list[TargetSpec], Meta(min_length=1)] | UnsetType = UNSET
    strategy: str | UnsetType = UNSET
    params: RouteParams | UnsetType = UNSET
    enabled: bool | UnsetType = UNSET


class RoutePage(msgspec.Struct):
    data: list[Route]
    total: int
    limit: int
    offset: int


# -- plans -------------------------------------------------------------------------------------


class PlanCreate(PlanSpec, forbid_unknown_fields=True):
    """POST and PUT body; a null limit means unlimited."""


class PlanUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | UnsetType = UNSET
    models: list[str] | UnsetType = UNSET
    targets: list[str] | UnsetType = UNSET
    daily_requests: Count | UnsetType | None = UNSET
    rpm: Count | UnsetType | None = UNSET
    tpm: Count | UnsetType | None = UNSET
    monthly_budget_usd: Money | UnsetType | None = UNSET
    daily_budget_usd: Money | UnsetType | None = UNSET
    cache: bool | UnsetType = UNSET
    end_user_limits: EndUserLimits | UnsetType | None = UNSET
    user_limits: EndUserLimits | UnsetType | None = UNSET


class PlanPage(msgspec.Struct):
    data: list[Plan]
    total: int
    limit: int
    offset: int


# -- prompts -----------------------------------------------------------------------------------


class PromptCreate(PromptSpec, forbid_unknown_fields=True, kw_only=True):
    """POST body: the prompt's name and its first version."""


class PromptVersionCreate(PromptTemplate, forbid_unknown_fields=True, kw_only=True):
    """PUT body: a new version of the prompt (the earlier ones stay)."""

    publish: bool = True
    """False: keep serving the published version; `prompt/<name>@N` reaches the new one."""


class PublishRequest(msgspec.Struct, forbid_unknown_fields=True):
    version: Annotated[int, Meta(ge=1, le=2**31 - 1)]


class RenderRequest(msgspec.Struct, forbid_unknown_fields=True):
    variables: dict[str, str | int | float] = msgspec.field(default_factory=dict)
    version: Annotated[int, Meta(ge=1, le=2**31 - 1)] | None = None
    """None: the published version."""


class PromptPage(msgspec.Struct):
    data: list[Prompt]
    total: int
    limit: int
    offset: int


# -- teams -------------------------------------------------------------------------------------


class TeamCreate(TeamSpec, forbid_unknown_fields=True):
    """POST and PUT body; members are added through `/v1/teams/{ref}/members/{user}`."""


class TeamUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    name: Name | UnsetType = UNSET
    plan: Name | UnsetType | None = UNSET
    models: list[Annotated[str, Meta(min_length=1, max_length=200)]] | UnsetType | None = UNSET
    limits: EndUserLimits | UnsetType = UNSET


class TeamMemberSet(msgspec.Struct, forbid_unknown_fields=True):
    role: Literal["admin", "member"] = "member"


class TeamPage(msgspec.Struct):
    data: list[Team]
    total: int
    limit: int
    offset: int


# -- api keys ----------------------------------------------------------------------------------


class ApiKeyCreate(KeyDraft, forbid_unknown_fields=True, kw_only=True):
    """POST body; with a user token, `plan` and `user_id` are the caller's and limits may only go down."""


class ApiKeyUpdate(msgspec.Struct, forbid_unknown_fields=True, kw_only=True):
    """PATCH body: absent fields keep their value, at least one must be given; the secret never changes here."""

    name: Annotated[str, Meta(min_length=1, max_length=200)] | UnsetType = UNSET
    metadata: dict[str, Any] | UnsetType = UNSET
    """Replaces the stored metadata object whole."""


class RotateRequest(msgspec.Struct, forbid_unknown_fields=True):
    grace_period_s: Annotated[int, Meta(ge=0, le=MAX_GRACE_S)] = 0
    """How long the previous secret keeps working; 0 = it stops at once."""


class ApiKeyPage(msgspec.Struct):
    data: list[ApiKey]
    total: int
    limit: int
    offset: int


# -- users and auth ----------------------------------------------------------------------------


class UserCreate(UserDraft, forbid_unknown_fields=True, kw_only=True):
    """POST body; the password is write-only."""


class UserUpdate(UserChanges, forbid_unknown_fields=True, kw_only=True):
    """PATCH body: absent fields keep their value."""


class AlertPage(msgspec.Struct):
    data: list[Alert]
    total: int
    limit: int
    offset: int


class AuditPage(msgspec.Struct):
    data: list[AuditEvent]
    total: int
    limit: int
    offset: int


class UserPage(msgspec.Struct):
    data: list[User]
    total: int
    limit: int
    offset: int


class TokenRequest(msgspec.Struct, forbid_unknown_fields=True):
    """JSON, or form-encoded as in OAuth2's password grant (whose other form fields are ignored)."""

    accepts_form: ClassVar[bool] = True
    username: Annotated[str, Meta(min_length=1, max_length=200)]
    password: Annotated[str, Meta(min_length=1, max_length=1024)]


class TokenResponse(msgspec.Struct):
    access_token: str
    expires_in: int
    """Seconds until the token expires."""
    token_type: Literal["bearer"] = "bearer"


class Me(msgspec.Struct):
    """Who the credentials belong to."""

    role: Literal["admin", "user"]
    via: Literal["admin-key", "token"]
    user_id: str | None = None
    username: str | None = None
    plan: str | None = None


Limit = Annotated[int, Parameter(ge=1, le=500, description="Page size (1-500)")]
MAX_OFFSET = 1_000_000_000
"""Far past any real list; larger values overflowed the databases' 64-bit integers (a 500, found by fuzzing)."""
Offset = Annotated[int, Parameter(ge=0, le=MAX_OFFSET, description="How many objects to skip (0-1,000,000,000)")]
Ref = Annotated[str, Parameter(description="The object's id, or its name")]
