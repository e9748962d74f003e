"""The immutable catalog view the hot path reads: providers, routes, plans, keys, model names."""

from __future__ import annotations

from dataclasses import dataclass, field

from app.catalog.specs import Limits, ModelSpec, PlanSpec, RouteParams, TargetSpec

__all__ = ["CatalogSnapshot", "KeyRecord", "ProviderEntry", "ResolvedModel", "RouteEntry"]


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

    def model(self, model_id: str) -> ModelSpec:
        # A model the operator did not list is still routable by explicit name, priced at 0.
        return self.models.get(model_id) or ModelSpec(id=model_id)


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
    """Every routable name, bare names included where unambiguous."""

    @classmethod
    def empty(cls) -> CatalogSnapshot:
        return cls(0, {}, {}, {}, {}, {}, {})
