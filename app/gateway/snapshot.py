"""The immutable catalog view the hot path reads: providers, routes, plans, keys, model names."""

from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field

import msgspec

from app.catalog.specs import (
    TOOL_KINDS,
    EndUserLimits,
    Limits,
    ModelSpec,
    PlanSpec,
    RouteParams,
    TargetSpec,
    is_pattern,
)
from app.prompts.template import PromptTemplate

__all__ = [
    "CatalogSnapshot",
    "KeyRecord",
    "PromptEntry",
    "ProviderEntry",
    "ResolvedModel",
    "RouteEntry",
    "TeamRecord",
    "is_pattern",
]


@dataclass(frozen=True, slots=True)
class PromptEntry:
    """A prompt's versions as the hot path reads them."""

    name: str
    published: int
    versions: dict[int, PromptTemplate]


@dataclass(frozen=True, slots=True)
class TeamRecord:
    """A key's team as the hot path sees it: the models it narrows to and the limits its keys share."""

    id: str
    name: str
    models: tuple[str, ...] | None
    limits: EndUserLimits


@dataclass(frozen=True, slots=True)
class ProviderEntry:
    """A provider with its credential decrypted, ready for the adapters."""

    id: str
    name: str
    kind: str
    base_url: str
    api_key: str | None
    enabled: bool
    timeout_s: float
    first_token_timeout_s: float | None
    stall_timeout_s: float | None
    models: dict[str, ModelSpec]
    headers: dict[str, str]
    probe_interval_s: float = 30.0
    quirks: str | None = None
    max_concurrent: int | None = None
    """At most this many calls in flight to this provider per worker (app.gateway.slots)."""
    batch_cost_factor: float = 1.0
    """The share of the models' prices its own batch API bills (see `ProviderSpec`)."""
    api_version: str | None = None
    """azure: the deployment API's `api-version` (None: the v1 API)."""
    region: str | None = None
    """bedrock: the AWS region to sign for (None: from the base URL's host)."""
    daily_budget_usd: float | None = None
    monthly_budget_usd: float | None = None
    """What it may cost per UTC day / month across every key (app.limits.provider_spend)."""
    patterns: tuple[str, ...] = field(init=False, default=())
    """The model ids that are globs, in the order listed (the first match wins)."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "patterns", tuple(m for m in self.models if is_pattern(m)))

    def pattern_for(self, model_id: str) -> str | None:
        """The first listed glob that `model_id` matches (None: none does, or it is listed itself)."""
        for pattern in self.patterns:
            if fnmatch.fnmatchcase(model_id, pattern):
                return pattern
        return None

    def model(self, model_id: str) -> ModelSpec:
        found = self.models.get(model_id)
        if found is not None:
            return found
        pattern = self.pattern_for(model_id) if self.patterns else None
        if pattern is not None:  # priced and described as its glob says
            return msgspec.structs.replace(self.models[pattern], id=model_id)
        # A model the operator did not list is still routable by explicit name, priced at 0.
        return ModelSpec(id=model_id)


@dataclass(frozen=True, slots=True)
class RouteEntry:
    name: str
    strategy: str
    params: RouteParams
    targets: tuple[TargetSpec, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class ResolvedModel:
    """What a routable name stands for: a route, or a single provider model."""

    name: str
    route: RouteEntry | None
    targets: tuple[TargetSpec, ...]

    @property
    def strategy(self) -> str:
        return self.route.strategy if self.route else "priority-fallback"

    @property
    def params(self) -> RouteParams:
        return self.route.params if self.route else _DEFAULT_PARAMS


_DEFAULT_PARAMS = RouteParams()


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An API key as the hot path sees it (the secret itself is never kept)."""

    id: str
    name: str
    prefix: str
    plan: PlanSpec | None
    allowed_models: tuple[str, ...] | None
    limits: Limits
    expires_at: float | None
    """Unix time; None = never."""
    user_id: str | None = None
    metadata: dict[str, object] = field(default_factory=dict)
    tags: tuple[str, ...] = ()
    """`metadata.tags`, read once when the catalog loads: each of its calls' usage carries them."""
    team: TeamRecord | None = None
    end_user_limits: EndUserLimits | None = field(init=False, default=None)
    """What each of its end users may spend: the key's own override, else its plan's (None: no limit)."""

    def __post_init__(self) -> None:
        own, plans = self.limits.end_user_limits, self.plan.end_user_limits if self.plan else None
        if own is not None and plans is not None:  # field by field, as the key's own limits override the plan's
            own = EndUserLimits(**{
                name: mine if mine is not None else getattr(plans, name)
                for name in EndUserLimits.__struct_fields__
                for mine in (getattr(own, name),)
            })  # fmt: skip
        object.__setattr__(self, "end_user_limits", own or plans)


@dataclass(frozen=True, slots=True)
class CatalogSnapshot:
    version: int
    providers: dict[str, ProviderEntry]
    routes: dict[str, RouteEntry]
    plans: dict[str, PlanSpec]
    keys: dict[str, KeyRecord]
    """sha256 hex of the secret -> record; a rotated key's old hash maps here during its grace period."""
    key_valid_until: dict[str, float]
    """Old hashes of rotated keys -> Unix time their grace period ends."""
    models: dict[str, ResolvedModel]
    """Every routable name, bare names included where unambiguous (glob models are not listed)."""
    matched: dict[str, ResolvedModel] = field(default_factory=dict)
    """Names resolved through a provider's glob models, kept for the next request (bounded)."""
    prompts: dict[str, PromptEntry] = field(default_factory=dict)
    """Prompt templates by name (`model: prompt/<name>`); empty: the pipeline never looks for one."""

    @classmethod
    def empty(cls) -> CatalogSnapshot:
        return cls(0, {}, {}, {}, {}, {}, {})

    def resolve_name(self, name: str) -> ResolvedModel | None:
        """The route or provider model `name` stands for: listed, or `<provider>/<id>` matching a glob."""
        found = self.models.get(name)
        if found is not None:
            return found
        found = self.matched.get(name)
        if found is not None:
            return found
        provider_name, _, model_id = name.partition("/")
        provider = self.providers.get(provider_name)
        if provider is None or not provider.enabled or not provider.patterns or not model_id or len(model_id) > 200:
            return None
        if provider.kind in TOOL_KINDS:  # its globs price tools
            return None
        if is_pattern(model_id) or provider.pattern_for(model_id) is None:
            return None
        found = ResolvedModel(name, None, (TargetSpec(provider.name, model_id),))
        if len(self.matched) >= _MATCHED_KEPT:  # names come from callers: never an unbounded dict
            self.matched.clear()
        self.matched[name] = found
        return found


_MATCHED_KEPT = 4096
