"""What the management API returns for each catalog object (secrets never included)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from app.catalog.specs import EndUserLimits, Limits, ModelSpec, RouteParams, TargetSpec
from app.prompts.template import PromptTemplate

__all__ = [
    "ApiKey",
    "ApiKeyCreated",
    "Plan",
    "Prompt",
    "PromptVersion",
    "Provider",
    "Route",
    "Source",
    "Team",
    "TeamMember",
    "User",
]

Source = Literal["api", "config"]


class Provider(msgspec.Struct, kw_only=True):
    """A provider config; its credential appears only as a masked hint."""

    id: str
    name: str
    kind: str
    base_url: str
    api_key_hint: str | None
    """`sk-...abcd`: enough to recognise the credential; the key itself is write-only."""
    enabled: bool
    timeout_s: float
    first_token_timeout_s: float | None
    stall_timeout_s: float | None
    probe_interval_s: float
    quirks: str | None
    max_concurrent: int | None
    """Calls in flight to it at most, per worker; none: no cap."""
    batch_cost_factor: float | None = None
    """The share of its prices its own batch API bills; none: the kind's (0.5 for OpenAI and Anthropic)."""
    api_version: str | None = None
    """azure: the deployment API's `api-version`; none: the v1 API."""
    region: str | None = None
    """bedrock: the AWS region; none: read from the base URL."""
    daily_budget_usd: float | None = None
    """What it may cost per UTC day across every key; spent: routes skip it until the day ends."""
    monthly_budget_usd: float | None = None
    models: list[ModelSpec]
    headers: dict[str, str]
    """Extra upstream headers; values of credential-like headers are masked."""
    source: Source
    """`config`: applied from the config file, read-only through the API."""
    created_at: datetime
    updated_at: datetime


class Route(msgspec.Struct, kw_only=True):
    """A named virtual model: targets plus the strategy that orders them."""

    id: str
    name: str
    strategy: str
    targets: list[TargetSpec]
    params: RouteParams
    enabled: bool
    source: Source
    created_at: datetime
    updated_at: datetime


class Plan(msgspec.Struct, kw_only=True):
    """A tier: which models, how much, how fast (null = unlimited)."""

    id: str
    name: str
    models: list[str]
    targets: list[str]
    daily_requests: int | None
    rpm: int | None
    tpm: int | None
    monthly_budget_usd: float | None
    source: Source
    created_at: datetime
    updated_at: datetime
    cache: bool = True
    """False: keys on this plan never use the response cache."""
    daily_budget_usd: float | None = None
    """Spend per UTC day per key (null = no daily budget)."""
    end_user_limits: EndUserLimits | None = None
    """Limits per end user of each key on the plan (null = none)."""
    user_limits: EndUserLimits | None = None
    """Limits on the sum of each user's keys on the plan (null = none)."""


class ApiKey(msgspec.Struct, kw_only=True):
    """An inference API key; the secret is never shown again after create/rotate."""

    id: str
    name: str
    prefix: str
    """The first characters of the secret, to recognise it in a list."""
    plan: str | None
    user_id: str | None
    allowed_models: list[str] | None
    limits: Limits
    """Per-key overrides of the plan's limits."""
    expires_at: datetime | None
    metadata: dict[str, Any]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None
    previous_valid_until: datetime | None
    """After a rotation with a grace period: when the previous secret stops working."""
    source: Source
    team_id: str | None = None
    """The team whose models and shared limits also hold this key."""


class ApiKeyCreated(ApiKey, kw_only=True):
    """The one response that carries the secret (create and rotate)."""

    key: str
    """The secret: store it now, it is not retrievable later."""


class User(msgspec.Struct, kw_only=True):
    """An account that logs in for a JWT; the password is write-only."""

    id: str
    username: str
    role: Literal["admin", "user"]
    plan: str | None
    disabled: bool
    created_at: datetime
    updated_at: datetime


class TeamMember(msgspec.Struct, kw_only=True):
    user_id: str
    username: str
    role: Literal["admin", "member"]
    """`admin` manages every key of the team; `member` makes and manages keys of their own in it."""
    added_at: datetime


class Team(msgspec.Struct, kw_only=True):
    """Users and keys sharing models and limits."""

    id: str
    name: str
    plan: str | None
    """The plan of keys made for the team when their creator names none."""
    models: list[str] | None
    """Glob patterns narrowing its keys' plans (null = their plans' models)."""
    limits: EndUserLimits
    """On the sum of every key of the team (fields left out = no limit)."""
    members: list[TeamMember]
    source: Source
    created_at: datetime
    updated_at: datetime


class PromptVersion(msgspec.Struct, kw_only=True):
    """One immutable version of a prompt."""

    version: int
    template: PromptTemplate
    variables: list[str]
    """Every `{{ variable }}` its messages use; those without a default must be given by each caller."""
    created_at: datetime


class Prompt(msgspec.Struct, kw_only=True):
    """A prompt template: `model: prompt/<name>` serves the published version, `prompt/<name>@N` version N."""

    id: str
    name: str
    published: int
    latest: int
    current: PromptVersion
    """The published version."""
    versions: list[int]
    created_at: datetime
    updated_at: datetime
