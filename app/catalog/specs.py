"""The declarative shapes of providers, routes, plans and keys, shared by the config file and the API."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Collection
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

import msgspec
from msgspec import Meta

from app.accounting.attribution import tags_problem
from app.prompts.template import PromptTemplate
from app.providers.aws_sigv4 import parse_credentials
from app.providers.google_auth import parse_service_account
from app.providers.openai_compatible import QUIRKS

__all__ = [
    "PROVIDER_KINDS",
    "TOOL_KINDS",
    "ApiKeySpec",
    "ConfigFile",
    "Limits",
    "ModelSpec",
    "PlanSpec",
    "PromptSpec",
    "ProviderSpec",
    "RouteParams",
    "RouteSpec",
    "TargetSpec",
    "TeamSpec",
    "is_pattern",
    "serves",
]


Name = Annotated[str, Meta(min_length=1, max_length=120, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
RouteName = Annotated[str, Meta(min_length=1, max_length=200, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:/\-]*$")]
ModelId = Annotated[str, Meta(min_length=1, max_length=200)]
Money = Annotated[float, Meta(ge=0)]
PositiveSeconds = Annotated[float, Meta(gt=0, le=3600)]
Count = Annotated[int, Meta(ge=0, le=2**31 - 1)]
"""Plan limits are 32-bit INTEGER columns; a larger value was a 500 on Postgres (found by fuzzing), now a 422."""
Kind = Literal[
    "openai",
    "openai-compatible",
    "azure",
    "anthropic",
    "bedrock",
    "bedrock-converse",
    "gemini",
    "vertex",
    "vertex-anthropic",
    "demo",
    "tavily",
    "mcp",
]
PROVIDER_KINDS: tuple[str, ...] = get_args(Kind)
TOOL_KINDS = frozenset({"mcp"})
"""Kinds whose `models` price tools, not models: never routable names."""
BATCH_COST_FACTOR: dict[str, float] = {"openai": 0.5, "anthropic": 0.5}
"""The share of the direct price a provider kind bills for a request of its own batch API."""
ApiVersion = Annotated[str, Meta(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,39}$")]
Region = Annotated[str, Meta(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]{1,2}$")]
Url = Annotated[str, Meta(pattern=r"^(https?://[^\s/?#]+[^\s]*|inproc://[^\s]*)$", max_length=500)]


def is_pattern(model_id: str) -> bool:
    """A provider model id with `*` is a glob (`*`, `gpt-*`, `meta-llama/*`): it stands for every model
    id it matches, which the caller names as `<provider>/<id>`."""
    return "*" in model_id


def serves(model_ids: Collection[str], model_id: str) -> bool:
    """A provider listing `model_ids` serves `model_id`: listed, or matched by a listed glob (a glob
    itself names no model to call)."""
    if is_pattern(model_id):
        return False
    return model_id in model_ids or any(is_pattern(p) and fnmatch.fnmatchcase(model_id, p) for p in model_ids)


class ModelSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """One model a provider serves, with its price and limits."""

    id: ModelId
    input_cost_per_mtok: Money = 0.0
    output_cost_per_mtok: Money = 0.0
    cached_input_cost_per_mtok: Money | None = None
    """Price of prompt tokens served from the provider's cache; input price when unset."""
    audio_input_cost_per_mtok: Money | None = None
    audio_output_cost_per_mtok: Money | None = None
    """Prices of audio tokens in and out (Realtime and audio models: gpt-realtime 32 and 64); the text
    prices when unset."""
    cost_per_image: Money | None = None
    """For image models priced per image rather than per token."""
    cost_per_1k_chars: Money | None = None
    """For text-to-speech models priced per 1,000 input characters (tts-1: 0.015)."""
    cost_per_minute: Money | None = None
    """For transcription models priced per minute of audio (whisper-1: 0.006)."""
    cost_per_request: Money | None = None
    """Flat price of an answered request that reports nothing else to price (tokens, images, characters,
    audio seconds): e.g. a transcription of a format whose length the upstream does not report."""
    context_window: Annotated[int, Meta(gt=0)] | None = None
    max_output_tokens: Annotated[int, Meta(gt=0)] | None = None
    rpm: Annotated[int, Meta(gt=0, le=2**31 - 1)] | None = None
    tpm: Annotated[int, Meta(gt=0, le=2**31 - 1)] | None = None
    """Calls (tokens) per UTC minute this deployment takes, across every key (an Azure deployment's
    quota, LiteLLM's deployment rpm/tpm): once reached, routes skip it until the minute ends."""
    tools: bool = True
    vision: bool = False
    reasoning: bool = False
    streaming: bool = True
    embeddings: bool = False
    prefill: bool | None = None
    """Accepts a trailing assistant message to continue (mid-stream recovery); adapter default when unset."""


class ProviderSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """An upstream account: where it is, how to authenticate, what it serves."""

    name: Name
    kind: Kind
    base_url: Url | None = None
    api_key: str | None = None
    enabled: bool = True
    timeout_s: PositiveSeconds = 60.0
    first_token_timeout_s: PositiveSeconds | None = None
    stall_timeout_s: PositiveSeconds | None = None
    models: list[ModelSpec] = msgspec.field(default_factory=list)
    headers: dict[str, str] = msgspec.field(default_factory=dict)
    probe_interval_s: Annotated[float, Meta(ge=0)] = 30.0
    """0 turns probing off for this provider."""
    quirks: str | None = None
    """openai-compatible vendor row (groq, deepseek, ...) when the base URL does not tell."""
    max_concurrent: Annotated[int, Meta(ge=1, le=100_000)] | None = None
    """At most this many calls in flight to this provider per worker (streams until they end): a call
    that finds them all taken goes to the next candidate, and the last candidate waits its turn."""
    batch_cost_factor: Annotated[float, Meta(ge=0, le=1)] | None = None
    """What a batch handed to this provider's own batch API costs against the models' prices; unset:
    `BATCH_COST_FACTOR` of its kind (OpenAI and Anthropic bill batches at half price)."""
    api_version: ApiVersion | None = None
    """azure: the `api-version` of Azure OpenAI's deployment API (`2024-10-21`); unset: its v1 API."""
    region: Region | None = None
    """bedrock: the AWS region requests are signed for; unset: read from the base URL's host."""
    daily_budget_usd: Money | None = None
    """What this provider account may cost per UTC day, across every key: once spent, routes skip it
    (falling back to their other targets) until the day ends."""
    monthly_budget_usd: Money | None = None
    """The same per UTC month."""

    def __post_init__(self) -> None:
        # A misspelt row would silently fall back to the defaults (and, say, send completions to a
        # vendor that has none): refuse it, naming the rows there are.
        if self.quirks is not None and self.quirks not in QUIRKS:
            raise ValueError(f"quirks: unknown vendor row {self.quirks[:40]!r}; one of {', '.join(QUIRKS)}")
        # A setting another kind ignores would look like it did something: refuse it.
        if self.api_version is not None and self.kind != "azure":
            raise ValueError("api_version: only a provider of kind azure has one")
        if self.region is not None and not self.kind.startswith("bedrock"):
            raise ValueError("region: only a provider of kind bedrock or bedrock-converse has one")
        # Credentials with a shape of their own are checked now, not at the first request.
        check = _CREDENTIAL_CHECKS.get(self.kind)
        if check is not None and self.api_key:
            try:
                check(self.api_key)
            except ValueError as exc:
                raise ValueError(f"api_key: {exc}") from None


_CREDENTIAL_CHECKS: dict[str, Callable[[str], object]] = {
    "bedrock": parse_credentials,
    "bedrock-converse": parse_credentials,
    "vertex": parse_service_account,
    "vertex-anthropic": parse_service_account,
}
"""Kinds whose `api_key` has a structure: its parser, which raises ValueError on a malformed one."""


class TargetSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    provider: Name
    model: ModelId
    priority: int = 0
    weight: Annotated[float, Meta(ge=0)] = 1.0


class RouteParams(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Retry, timeout and strategy knobs of one route."""

    retries: Annotated[int, Meta(ge=0, le=10)] = 1
    """Extra attempts on the same target after a retryable failure."""
    backoff_ms: Annotated[float, Meta(ge=0, le=60_000)] = 200.0
    max_retry_after_s: Annotated[float, Meta(ge=0, le=600)] = 10.0
    deadline_s: PositiveSeconds | None = None
    first_token_timeout_s: PositiveSeconds | None = None
    stall_timeout_s: PositiveSeconds | None = None
    mid_stream_recovery: bool = True
    hedge_after_ms: Annotated[float, Meta(gt=0)] | None = None
    hedge_p95: bool = False
    inner: str | None = None
    """plan-gated and tiered: the strategy it delegates to."""
    exploration: Annotated[float, Meta(ge=0, le=1)] = 0.05
    """latency-weighted: share of traffic spread evenly so a recovered target is noticed."""
    cache: bool = False
    """Serve repeated identical requests from the response cache (also per key or per request)."""
    cache_ttl_s: Annotated[float, Meta(gt=0)] = 300.0
    cache_shared: bool = False
    """One cache for every caller of this route instead of one per owner (user, else key)."""
    cache_nondeterministic: bool = False
    """Also cache requests with `n > 1` or an explicit `temperature > 0`."""
    hooks: list[str] = msgspec.field(default_factory=list)
    """Request hooks (built-in or `polyroute.hooks` entry points) run after the global ones."""
    hook_options: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """Per hook name: its options (over the global POLYROUTE_HOOK_OPTIONS for that hook)."""
    extra: dict[str, Any] = msgspec.field(default_factory=dict)
    """Free-form parameters for third-party strategies."""


class RouteSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A named virtual model: targets plus the strategy that orders them."""

    name: RouteName
    targets: Annotated[list[TargetSpec], Meta(min_length=1)]
    strategy: str = "priority-fallback"
    params: RouteParams = msgspec.field(default_factory=RouteParams)
    enabled: bool = True


class EndUserLimits(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """What each end user of a key may spend (`x-polyroute-end-user`, `user`, `metadata.user_id`)."""

    daily_requests: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    monthly_budget_usd: Money | None = None
    daily_budget_usd: Money | None = None


class Limits(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Per-key overrides of a plan's limits."""

    daily_requests: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    monthly_budget_usd: Money | None = None
    daily_budget_usd: Money | None = None
    """Spend per UTC day (LiteLLM's `max_budget` with `budget_duration: 1d`)."""
    targets: list[str] | None = None
    """Replaces the plan's target globs for plan-gated routing (`[]`: every target)."""
    end_user_limits: EndUserLimits | None = None
    """This key's end users' limits, over the plan's `end_user_limits` field by field."""


class PlanSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A tier: which models, how much, how fast."""

    name: Name
    models: list[str] = msgspec.field(default_factory=lambda: ["*"])
    """Glob patterns over routable model names."""
    targets: list[str] = msgspec.field(default_factory=list)
    """Glob patterns over `provider/model` targets this plan may use (plan-gated routing); empty = all."""
    daily_requests: Count | None = None
    rpm: Count | None = None
    tpm: Count | None = None
    monthly_budget_usd: Money | None = None
    daily_budget_usd: Money | None = None
    cache: bool = True
    """False: keys on this plan are never served from, nor stored in, the response cache."""
    end_user_limits: EndUserLimits | None = None
    """Limits per end user of each key on the plan, on top of the key's own."""
    user_limits: EndUserLimits | None = None
    """Limits on the sum of each user's keys on the plan (a user's many keys share them), on top of
    each key's own: so creating more keys buys a user no more than the plan gives them."""


class TeamSpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A group of users and keys that share models and limits (LiteLLM's teams)."""

    name: Name
    plan: Name | None = None
    """The plan of keys made for the team when their creator names none."""
    models: list[Annotated[str, Meta(min_length=1, max_length=200)]] | None = None
    """Glob patterns over routable names narrowing its keys' plans; null = their plans' models."""
    limits: EndUserLimits = msgspec.field(default_factory=EndUserLimits)
    """rpm, daily_requests, tpm, monthly_budget_usd on the sum of every key of the team."""


class ApiKeySpec(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """A key fixed in the config file (bootstrap and tests); API-created keys get generated secrets."""

    name: Annotated[str, Meta(min_length=1, max_length=200)]
    key: Annotated[str, Meta(min_length=16, max_length=400)]
    plan: str | None = None
    allowed_models: list[str] | None = None
    limits: Limits = msgspec.field(default_factory=Limits)
    expires_at: datetime | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    """Free-form; `cache` (bool) and `tags` (usage attribution) mean something to the gateway."""
    team: Name | None = None
    """A team of the file whose models and limits also hold this key (its plan, when the key names none)."""

    def __post_init__(self) -> None:
        if problem := tags_problem(self.metadata):
            raise ValueError(f"metadata.tags: {problem}")


class PromptSpec(PromptTemplate, forbid_unknown_fields=True, kw_only=True):
    """A prompt template by name: the config file's `prompts`, the API's new prompt."""

    name: Name


class ConfigFile(msgspec.Struct, forbid_unknown_fields=True):
    """The whole `polyroute.yaml`."""

    providers: list[ProviderSpec] = msgspec.field(default_factory=list)
    routes: list[RouteSpec] = msgspec.field(default_factory=list)
    plans: list[PlanSpec] = msgspec.field(default_factory=list)
    teams: list[TeamSpec] = msgspec.field(default_factory=list)
    api_keys: list[ApiKeySpec] = msgspec.field(default_factory=list)
    prompts: list[PromptSpec] = msgspec.field(default_factory=list)
    """Published as the file says at every start: a changed template becomes a new version."""
