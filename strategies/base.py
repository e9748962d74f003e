"""The routing strategy contract: pure ranking of candidates from a health snapshot.

Third-party strategies import only this module; it imports nothing from `app`.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol, runtime_checkable

__all__ = ["BreakerState", "Candidate", "HealthSnapshot", "RouteContext", "Strategy"]

BreakerState = Literal["closed", "open", "half-open"]


@dataclass(frozen=True, slots=True)
class HealthSnapshot:
    """What the gateway knows of one (provider, model) right now; plain values, no live objects."""

    latency_ms: float | None = None
    """EWMA of whole-request latency (non-stream) in milliseconds."""
    ttft_ms: float | None = None
    """EWMA of time to first token (streams) in milliseconds."""
    p95_ttft_ms: float | None = None
    error_rate: float = 0.0
    """Share of failed requests over the sliding window, 0..1."""
    samples: int = 0
    breaker: BreakerState = "closed"
    consecutive_failures: int = 0

    @property
    def available(self) -> bool:
        """Closed or half-open breakers may take traffic; open ones may not."""
        return self.breaker != "open"

    @property
    def speed_ms(self) -> float | None:
        """The latency figure a strategy should compare: TTFT when known, else full latency."""
        return self.ttft_ms if self.ttft_ms is not None else self.latency_ms


@dataclass(frozen=True, slots=True)
class Candidate:
    """One upstream target of a route, with its price, window and health."""

    provider: str
    model: str
    priority: int = 0
    weight: float = 1.0
    input_cost_per_mtok: float = 0.0
    output_cost_per_mtok: float = 0.0
    context_window: int | None = None
    health: HealthSnapshot = field(default_factory=HealthSnapshot)

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    def expected_cost(self, prompt_tokens: int, output_tokens: int) -> float:
        return (prompt_tokens * self.input_cost_per_mtok + output_tokens * self.output_cost_per_mtok) / 1e6

    def fits(self, prompt_tokens: int, output_tokens: int = 0) -> bool:
        return self.context_window is None or prompt_tokens + output_tokens <= self.context_window


@dataclass(frozen=True, slots=True)
class RouteContext:
    """What a strategy may know about the request."""

    route: str
    plan: str | None = None
    plan_targets: tuple[str, ...] = ()
    """Glob patterns over `provider/model` the caller's plan may use; empty means all."""
    estimated_prompt_tokens: int = 0
    max_output_tokens: int | None = None
    stream: bool = False
    params: Mapping[str, Any] = field(default_factory=dict)
    rng: random.Random = field(default_factory=random.Random)
    """Injected so that simulations and tests are reproducible."""


@runtime_checkable
class Strategy(Protocol):
    """Orders candidates; the first is tried first. May drop candidates it must not use."""

    name: ClassVar[str]

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        """Return the candidates to try, best first."""
        ...
