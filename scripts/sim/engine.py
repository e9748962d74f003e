"""Routing simulation without HTTP: simulated providers, the real HealthRegistry, the attempt loop's rules.

Time is simulated (a discrete-event queue), so a run of thousands of requests with
overlapping attempts, breaker cool-downs and outages takes a fraction of a second. The
attempt rules mirror `app.gateway.attempts.AttemptLoop`: candidates in ranked order,
open breakers skipped (except a last chance when nothing was tried), same-target retries
with exponential backoff for retryable failures, immediate fail-over on a timeout, and
after a context-length error only candidates with a larger window. Hedging (RouteParams
`hedge_after_ms` / `hedge_p95`) is simulated here ahead of the gateway: when the first
attempt has no first byte after the delay, the next candidate starts too; the first
to answer wins and the other is cancelled but still billed in full (an upper bound:
some upstreams keep generating after the client has gone).
"""

from __future__ import annotations

import heapq
import math
import random
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any, ClassVar, Literal

import strategies
from app.catalog.specs import RouteParams
from app.health.scores import HealthRegistry
from strategies.base import Candidate, HealthSnapshot, RouteContext, Strategy

__all__ = [
    "SCENARIOS",
    "Oracle",
    "Outage",
    "RequestOutcome",
    "RunResult",
    "Scenario",
    "SimProvider",
    "Simulation",
    "Workload",
    "percentile",
    "simulate",
]

Objective = Literal["latency", "cost"]
Failure = Literal["retryable", "timeout", "context"]


@dataclass(frozen=True, slots=True)
class Outage:
    """Every attempt that starts in [start_s, end_s) of simulated time fails."""

    start_s: float
    end_s: float
    mode: Literal["error", "timeout"] = "error"
    """error: a fast 503 (retryable); timeout: no first byte before the first-token timeout."""


@dataclass(frozen=True, slots=True)
class SimProvider:
    """One simulated (provider, model): latency distributions, failures, outages, price, window."""

    provider: str
    model: str
    ttft_ms: float
    """Median time to first token; lognormal around it."""
    gen_ms: float = 400.0
    """Median time from the first token to the last."""
    sigma: float = 0.25
    tail_p: float = 0.0
    """Share of attempts in the slow tail, whose TTFT is multiplied by tail_factor."""
    tail_factor: float = 1.0
    failure_rate: float = 0.0
    fail_ms: float = 60.0
    outages: tuple[Outage, ...] = ()
    input_cost_per_mtok: float = 0.0
    output_cost_per_mtok: float = 0.0
    context_window: int | None = None
    priority: int = 0
    weight: float = 1.0

    @property
    def key(self) -> str:
        return f"{self.provider}/{self.model}"

    @property
    def mean_ms(self) -> float:
        """True mean latency of a successful attempt, as only the oracle may know it."""
        spread = math.exp(self.sigma**2 / 2)
        return self.ttft_ms * spread * (1 - self.tail_p + self.tail_p * self.tail_factor) + self.gen_ms * spread

    def outage(self, now: float) -> Outage | None:
        return next((o for o in self.outages if o.start_s <= now < o.end_s), None)

    def candidate(self, health: HealthSnapshot) -> Candidate:
        return Candidate(
            self.provider,
            self.model,
            self.priority,
            self.weight,
            self.input_cost_per_mtok,
            self.output_cost_per_mtok,
            self.context_window,
            health,
        )


@dataclass(frozen=True, slots=True)
class Workload:
    """How requests arrive and what they ask for."""

    interval_ms: float = 100.0
    """Mean gap between arrivals (Poisson)."""
    prompt_tokens: int = 1000
    """Median prompt size; lognormal with prompt_sigma."""
    prompt_sigma: float = 0.0
    output_tokens: int = 300
    max_output_tokens: int | None = 1024
    free_share: float = 0.0
    """Share of requests made with the free plan's key."""
    free_targets: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    description: str
    providers: tuple[SimProvider, ...]
    requests: int
    workload: Workload = Workload()
    variants: tuple[tuple[str, RouteParams], ...] = (("", RouteParams()),)
    """(label suffix, route params) pairs, e.g. hedging off and on."""
    objective: Objective = "latency"
    first_token_timeout_ms: float = 5000.0

    def at(self, fraction: float) -> float:
        """Simulated time of the request at this fraction of the run."""
        return fraction * self.requests * self.workload.interval_ms / 1000


@dataclass(frozen=True, slots=True)
class _Spec:
    index: int
    arrival_s: float
    prompt_tokens: int
    output_tokens: int
    free: bool


@dataclass(slots=True)
class RequestOutcome:
    index: int
    arrival_s: float
    free: bool
    ok: bool = False
    denied: bool = False
    """The strategy returned no candidate (the gateway answers 403)."""
    served: str | None = None
    latency_ms: float | None = None
    cost: float = 0.0
    hedged: bool = False
    hedge_cost: float = 0.0
    attempts: int = 0
    violation: bool = False
    """A free-plan request answered by a target outside the free plan's globs."""


def percentile(values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile, q in 0..1."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


@dataclass(slots=True)
class RunResult:
    scenario: str
    strategy: str
    keys: tuple[str, ...]
    outcomes: list[RequestOutcome]

    def window(self, start_s: float = 0.0, end_s: float = math.inf) -> list[RequestOutcome]:
        """The requests that arrived in [start_s, end_s) of simulated time."""
        return [o for o in self.outcomes if start_s <= o.arrival_s < end_s]

    def share(self, start_s: float = 0.0, end_s: float = math.inf) -> dict[str, float]:
        """Share of the successful requests arriving in [start_s, end_s) that each target answered."""
        served = Counter(o.served for o in self.window(start_s, end_s) if o.ok)
        total = sum(served.values()) or 1
        return {k: served[k] / total for k in self.keys}

    def success_rate(self, start_s: float = 0.0, end_s: float = math.inf) -> float:
        window = self.window(start_s, end_s)
        return sum(o.ok for o in window) / len(window) if window else 0.0

    def summary(self) -> dict[str, Any]:
        latencies = [o.latency_ms for o in self.outcomes if o.latency_ms is not None]
        n = len(self.outcomes) or 1

        def ms(q: float) -> float | None:
            value = percentile(latencies, q)
            return None if value is None else round(value, 1)

        return {
            "scenario": self.scenario,
            "strategy": self.strategy,
            "requests": len(self.outcomes),
            "success_rate": round(self.success_rate(), 4),
            "p50_ms": ms(0.50),
            "p95_ms": ms(0.95),
            "p99_ms": ms(0.99),
            "mean_cost_usd": sum(o.cost for o in self.outcomes) / n,
            "share": {k: round(v, 3) for k, v in self.share().items()},
            "hedged": sum(o.hedged for o in self.outcomes),
            "hedge_cost_usd": sum(o.hedge_cost for o in self.outcomes),
            "denied": sum(o.denied for o in self.outcomes),
            "plan_violations": sum(o.violation for o in self.outcomes),
        }


class Oracle:
    """Knows every provider's true state now: the best target that is up, fits and is allowed, first."""

    name: ClassVar[str] = "oracle"

    def __init__(self, scenario: Scenario, clock: Callable[[], float]) -> None:
        self._providers = {p.key: p for p in scenario.providers}
        self._objective = scenario.objective
        self._clock = clock

    def rank(self, candidates: Sequence[Candidate], ctx: RouteContext) -> list[Candidate]:
        now = self._clock()
        prompt, output = ctx.estimated_prompt_tokens, ctx.max_output_tokens or 0

        def key(c: Candidate) -> tuple[bool, float, float]:
            p = self._providers[c.key]
            usable = p.outage(now) is None and c.fits(prompt, output)
            cost = c.expected_cost(prompt, output)
            first, second = (p.mean_ms, cost) if self._objective == "latency" else (cost, p.mean_ms)
            return (not usable, first, second)

        allowed = [c for c in candidates if _allowed(c.key, ctx.plan_targets)]
        return sorted(allowed, key=key)


def _allowed(key: str, globs: Sequence[str]) -> bool:
    return not globs or any(fnmatchcase(key, g) for g in globs)


@dataclass(slots=True, eq=False)
class _Attempt:
    candidate: Candidate
    retry: int
    started: float
    cancelled: bool = False


class Simulation:
    """One scenario, one strategy, one set of route params: a deterministic event-driven run."""

    def __init__(
        self,
        scenario: Scenario,
        strategy: Strategy | None,
        params: RouteParams,
        seed: int = 0,
        *,
        label: str | None = None,
    ) -> None:
        """`strategy=None` runs the oracle, which also ignores breakers: it knows better."""
        self.scenario = scenario
        self.params = params
        self.seed = seed
        self.now = 0.0
        self.health = HealthRegistry(clock=lambda: self.now)
        self.strategy: Strategy = strategy if strategy is not None else Oracle(scenario, lambda: self.now)
        self.respect_breakers = strategy is not None
        self.label = label or self.strategy.name
        self.providers = {p.key: p for p in scenario.providers}
        self.rng = random.Random(f"{seed}:world")
        self.strategy_rng = random.Random(f"{seed}:strategy")
        self._queue: list[tuple[float, int, Callable[[], None]]] = []
        self._seq = 0

    def after(self, delay_s: float, action: Callable[[], None]) -> None:
        self._seq += 1
        heapq.heappush(self._queue, (self.now + delay_s, self._seq, action))

    def run(self) -> RunResult:
        outcomes: list[RequestOutcome] = []
        for spec in _workload(self.scenario, self.seed):
            outcome = RequestOutcome(spec.index, spec.arrival_s, spec.free)
            outcomes.append(outcome)
            self._seq += 1
            heapq.heappush(self._queue, (spec.arrival_s, self._seq, _bind(self._arrive, spec, outcome)))
        while self._queue:
            self.now, _, action = heapq.heappop(self._queue)
            action()
        keys = tuple(p.key for p in self.scenario.providers)
        return RunResult(self.scenario.name, self.label, keys, outcomes)

    def _arrive(self, spec: _Spec, outcome: RequestOutcome) -> None:
        work = self.scenario.workload
        candidates = [p.candidate(self.health.snapshot(p.key)) for p in self.scenario.providers]
        ctx = RouteContext(
            route=self.scenario.name,
            plan="free" if spec.free else None,
            plan_targets=work.free_targets if spec.free else (),
            estimated_prompt_tokens=spec.prompt_tokens,
            max_output_tokens=work.max_output_tokens,
            stream=True,
            params={"inner": self.params.inner, "exploration": self.params.exploration, **self.params.extra},
            rng=self.strategy_rng,
        )
        ranked = self.strategy.rank(candidates, ctx)
        if not ranked:
            outcome.denied = True
            return
        _Request(self, spec, outcome, ranked).advance_or_fail()

    def draw(self, candidate: Candidate, spec: _Spec) -> tuple[Failure | None, float, float]:
        """The fate of one attempt started now: (failure or None, delay in ms until it shows, gen ms)."""
        p = self.providers[candidate.key]
        timeout = self.scenario.first_token_timeout_ms
        outage = p.outage(self.now)
        if outage is not None:
            return ("timeout", timeout, 0.0) if outage.mode == "timeout" else ("retryable", p.fail_ms, 0.0)
        budget = self.scenario.workload.max_output_tokens or spec.output_tokens
        if not candidate.fits(spec.prompt_tokens, budget):
            return "context", p.fail_ms, 0.0
        if self.rng.random() < p.failure_rate:
            return "retryable", p.fail_ms, 0.0
        ttft = p.ttft_ms * self.rng.lognormvariate(0.0, p.sigma)
        if self.rng.random() < p.tail_p:
            ttft *= p.tail_factor
        if ttft >= timeout:
            return "timeout", timeout, 0.0
        return None, ttft, p.gen_ms * self.rng.lognormvariate(0.0, p.sigma)


def _bind(fn: Callable[..., None], *args: Any) -> Callable[[], None]:
    return lambda: fn(*args)


class _Request:
    """One request's attempts, following AttemptLoop.run and _on_target, plus hedging."""

    def __init__(self, sim: Simulation, spec: _Spec, outcome: RequestOutcome, ranked: list[Candidate]) -> None:
        self.sim, self.spec, self.outcome, self.ranked = sim, spec, outcome, ranked
        self.next = 0
        self.tried = False
        self.min_window: int | None = None
        self.stopped = False
        self.live: list[_Attempt] = []
        self.pending_retries = 0
        self.hedged = False
        self.answered = False

    def advance(self) -> bool:
        """Start the next candidate the attempt loop would try; False when none is left."""
        health = self.sim.health
        while self.next < len(self.ranked) and not self.stopped:
            index = self.next
            self.next += 1
            c = self.ranked[index]
            if self.min_window is not None and (c.context_window or 0) <= self.min_window:
                continue
            last_chance = not self.tried and index == len(self.ranked) - 1
            if self.sim.respect_breakers and not health.allow(c.key) and not last_chance:
                continue
            self.tried = True
            self.start(c, 0)
            return True
        return False

    def advance_or_fail(self) -> None:
        if self.live or self.pending_retries or self.answered:
            return  # another attempt (a hedge, or a retry after backoff) may still answer
        self.advance()  # when nothing is left to try, the request has failed: its outcome stays not ok

    def start(self, c: Candidate, retry: int) -> None:
        attempt = _Attempt(c, retry, self.sim.now)
        self.live.append(attempt)
        self.outcome.attempts += 1
        failure, delay_ms, gen_ms = self.sim.draw(c, self.spec)
        if failure is None:
            self.sim.after(delay_ms / 1000, _bind(self.first_byte, attempt, delay_ms, gen_ms))
        else:
            self.sim.after(delay_ms / 1000, _bind(self.failed, attempt, failure))
        self.arm_hedge(attempt)

    def arm_hedge(self, attempt: _Attempt) -> None:
        params = self.sim.params
        delay = params.hedge_after_ms
        p95 = attempt.candidate.health.p95_ttft_ms
        if params.hedge_p95 and p95 is not None:
            delay = p95
        if delay is not None and not self.hedged:
            self.sim.after(delay / 1000, _bind(self.hedge, attempt))

    def hedge(self, attempt: _Attempt) -> None:
        if self.hedged or self.answered or attempt not in self.live:
            return
        self.hedged = True
        self.outcome.hedged = self.advance()

    def failed(self, attempt: _Attempt, failure: Failure) -> None:
        if attempt.cancelled:
            return
        self.live.remove(attempt)
        c = attempt.candidate
        self.sim.health.record_failure(c.key, (self.sim.now - attempt.started) * 1000)
        params = self.sim.params
        if failure == "retryable" and attempt.retry < params.retries:
            base = params.backoff_ms / 1000 * 2**attempt.retry
            self.pending_retries += 1
            self.sim.after(base * (0.5 + self.sim.rng.random() / 2), _bind(self.retry, c, attempt.retry + 1))
            return
        if failure == "context":
            if not c.context_window:
                self.stopped = True
            else:
                self.min_window = max(self.min_window or 0, c.context_window)
        self.advance_or_fail()

    def retry(self, c: Candidate, retry: int) -> None:
        self.pending_retries -= 1
        if not self.answered:
            self.start(c, retry)

    def first_byte(self, attempt: _Attempt, ttft_ms: float, gen_ms: float) -> None:
        if attempt.cancelled:
            return
        self.answered = True
        self.live.remove(attempt)
        for other in self.live:
            other.cancelled = True
            self.sim.health.release(other.candidate.key)
            self.outcome.hedge_cost += self._cost(other.candidate)
        self.live.clear()
        self.sim.after(gen_ms / 1000, _bind(self.complete, attempt, ttft_ms))

    def complete(self, attempt: _Attempt, ttft_ms: float) -> None:
        c = attempt.candidate
        self.sim.health.record_success(c.key, (self.sim.now - attempt.started) * 1000, ttft_ms)
        o = self.outcome
        o.ok = True
        o.served = c.key
        o.latency_ms = (self.sim.now - self.spec.arrival_s) * 1000
        o.cost = self._cost(c) + o.hedge_cost
        o.violation = self.spec.free and not _allowed(c.key, self.sim.scenario.workload.free_targets)

    def _cost(self, c: Candidate) -> float:
        return c.expected_cost(self.spec.prompt_tokens, self.spec.output_tokens)


def _workload(scenario: Scenario, seed: int) -> list[_Spec]:
    """The same arrivals and request sizes for every strategy run with this seed."""
    work = scenario.workload
    rng = random.Random(f"{seed}:workload")
    specs, t = [], 0.0
    for i in range(scenario.requests):
        size = work.prompt_tokens
        if work.prompt_sigma:
            size = max(1, round(size * rng.lognormvariate(0.0, work.prompt_sigma)))
        specs.append(_Spec(i, t, size, work.output_tokens, rng.random() < work.free_share))
        t += rng.expovariate(1000 / work.interval_ms)
    return specs


def simulate(scenario: Scenario, strategy: str, params: RouteParams | None = None, seed: int = 0) -> RunResult:
    """Run `strategy` (a registered name, or "oracle") over `scenario`."""
    instance = None if strategy == "oracle" else strategies.get(strategy)
    return Simulation(scenario, instance, params or RouteParams(), seed, label=strategy).run()


_PRICE: dict[str, Any] = {"input_cost_per_mtok": 0.15, "output_cost_per_mtok": 0.6}
"""Where price is not the point, every target costs the same."""


def _primary_outage(n: int) -> Scenario:
    s = Scenario("primary-outage", "primary down for the middle third", (), n)
    down = (Outage(s.at(1 / 3), s.at(2 / 3)),)
    primary = SimProvider("alpha", "chat", 300.0, failure_rate=0.01, outages=down, **_PRICE)
    secondary = SimProvider("beta", "chat", 450.0, priority=1, **_PRICE)
    return replace(s, providers=(primary, secondary))


def _slow_tail(n: int) -> Scenario:
    return Scenario(
        "slow-tail",
        "the fastest target has a 3% tail at 12x its TTFT; hedging off and on",
        (
            SimProvider("alpha", "chat", 250.0, sigma=0.2, tail_p=0.03, tail_factor=12.0, **_PRICE),
            SimProvider("beta", "chat", 400.0, sigma=0.2, priority=1, **_PRICE),
        ),
        n,
        variants=(("", RouteParams()), ("+hedge", RouteParams(hedge_p95=True, hedge_after_ms=600.0))),
    )


def _price_spread(n: int) -> Scenario:
    return Scenario(
        "price-spread",
        "three prices and windows; prompts lognormal around 2k tokens, some past 8k",
        (
            SimProvider("anthropic", "sonnet", 700.0, input_cost_per_mtok=3.0, output_cost_per_mtok=15.0,
                        context_window=200_000),
            SimProvider("groq", "llama-8b", 200.0, failure_rate=0.01, input_cost_per_mtok=0.05,
                        output_cost_per_mtok=0.08, context_window=8192, priority=1),
            SimProvider("deepseek", "chat", 600.0, input_cost_per_mtok=0.27, output_cost_per_mtok=1.1,
                        context_window=65_536, priority=2),
        ),
        n,
        Workload(prompt_tokens=2000, prompt_sigma=1.2),
        objective="cost",
    )  # fmt: skip


def _recovery(n: int) -> Scenario:
    s = Scenario("recovery", "the fastest target is down from 25% to 50% of the run, then recovers", (), n)
    fastest = SimProvider("alpha", "chat", 200.0, outages=(Outage(s.at(0.25), s.at(0.5)),), **_PRICE)
    others = (SimProvider("beta", "chat", 400.0, **_PRICE), SimProvider("gamma", "chat", 600.0, **_PRICE))
    return replace(s, providers=(fastest, *others))


def _plan_gated(n: int) -> Scenario:
    s = Scenario("plan-gated", "half the keys are on a free plan limited to groq/* and deepseek/*", (), n)
    return replace(
        s,
        providers=(
            SimProvider("openai", "gpt-4o", 300.0, input_cost_per_mtok=2.5, output_cost_per_mtok=10.0),
            SimProvider("groq", "llama-8b", 250.0, input_cost_per_mtok=0.05, output_cost_per_mtok=0.08,
                        priority=1, outages=(Outage(s.at(1 / 3), s.at(2 / 3)),)),
            SimProvider("deepseek", "chat", 600.0, input_cost_per_mtok=0.27, output_cost_per_mtok=1.1, priority=2),
        ),
        workload=Workload(free_share=0.5, free_targets=("groq/*", "deepseek/*")),
    )  # fmt: skip


SCENARIOS: Mapping[str, Callable[[int], Scenario]] = {
    "primary-outage": _primary_outage,
    "slow-tail": _slow_tail,
    "price-spread": _price_spread,
    "recovery": _recovery,
    "plan-gated": _plan_gated,
}
"""Scenario name -> builder taking the number of requests."""
