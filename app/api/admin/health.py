"""GET /v1/health/providers: health scores and breaker states; POST .../{name}/probe runs a probe now."""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get, post

from app.api.admin.schemas import problems
from app.catalog.specs import is_pattern
from app.errors import NotFoundError
from app.gateway.snapshot import ProviderEntry
from app.health.probes import ProbeResult
from app.limits.deployment_quotas import DeploymentQuotas, has_quota
from app.limits.provider_spend import ProviderSpend, has_budget

__all__ = ["HealthController"]

Json = dict[str, Any]


def _probe(result: ProbeResult | None) -> Json | None:
    if result is None:
        return None
    return {
        "ok": result.ok,
        "status": result.status,
        "latency_ms": round(result.latency_ms, 1),
        "error": result.error,
        "at": result.at,
    }


async def _quota(quotas: DeploymentQuotas | None, provider: ProviderEntry, model_id: str) -> Json | None:
    """A deployment's rpm/tpm and what this minute has taken of them (every replica, on a shared store)."""
    spec = provider.models[model_id]
    if quotas is None or not has_quota(spec):
        return None
    target = f"{provider.name}/{model_id}"
    calls, tokens = await quotas.used(target)
    return {"rpm": spec.rpm, "tpm": spec.tpm, "calls": calls, "tokens": tokens, "skipped": target in quotas.over}


async def _budget(spend: ProviderSpend | None, provider: ProviderEntry) -> Json | None:
    """Its budgets and what it has cost today and this month (all replicas, on a shared counter store)."""
    if spend is None or not has_budget(provider):
        return None
    today: float | None = None
    month: float | None = None
    try:
        today, month = await spend.spent(provider)
    except (ConnectionError, OSError, TimeoutError):
        pass  # the counter store is away: the budgets are still shown
    return {
        "daily_usd": provider.daily_budget_usd,
        "monthly_usd": provider.monthly_budget_usd,
        "spent_today_usd": today,
        "spent_month_usd": month,
        "over": provider.name in spend.over,
    }


class HealthController(Controller):
    path = "/v1/health"
    tags = ["health"]

    @get("/providers", responses=problems(401, 403))
    async def providers(self, request: Request[Any, Any, Any]) -> Json:
        """Every provider with each model's EWMA latency/TTFT, error rate and breaker state (and its quota's
        use this minute when it has an rpm/tpm), and its concurrency slots in this worker when it has a
        `max_concurrent` cap."""
        rt = request.app.state.runtime
        health = rt.gateway.health
        slots = rt.gateway.pool.slots
        out = []
        for provider in rt.catalog.snapshot.providers.values():
            models = []
            for model_id in provider.models:
                if is_pattern(model_id):
                    continue
                snap = health.snapshot(f"{provider.name}/{model_id}")
                models.append(
                    {
                        "model": model_id,
                        "breaker": snap.breaker,
                        "error_rate": round(snap.error_rate, 3),
                        "latency_ms": snap.latency_ms,
                        "ttft_ms": snap.ttft_ms,
                        "p95_ttft_ms": snap.p95_ttft_ms,
                        "samples": snap.samples,
                        "consecutive_failures": snap.consecutive_failures,
                        "quota": await _quota(rt.gateway.quotas, provider, model_id),
                    }
                )
            out.append(
                {
                    "name": provider.name,
                    "kind": provider.kind,
                    "enabled": provider.enabled,
                    "probe": _probe(rt.prober.results.get(provider.name)),
                    "concurrency": None
                    if provider.max_concurrent is None
                    else {
                        "max": provider.max_concurrent,
                        "in_use": slots.busy(provider.name),
                        "waiting": slots.waiting(provider.name),
                    },
                    "models": models,
                    "budget": await _budget(rt.gateway.provider_spend, provider),
                }
            )
        return {"data": out}

    @post("/providers/{name:str}/probe", status_code=200, responses=problems(401, 403, 404))
    async def probe(self, request: Request[Any, Any, Any], name: str) -> Json:
        """Probe one provider now (the admin UI's "test connection")."""
        rt = request.app.state.runtime
        provider = rt.catalog.snapshot.providers.get(name)
        if provider is None:
            raise NotFoundError(f"Provider '{name}' not found")
        result = _probe(await rt.prober.probe(provider))
        assert result is not None
        return result
