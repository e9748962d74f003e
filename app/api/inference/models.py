"""GET /v1/models and /v1/models/{id}: every routable name the key may use, with price, window and health.

OpenAI's list shape, or Anthropic's (`type: model`, `display_name`, `created_at`, paged with
`limit`, `after_id` and `before_id`) when the caller sends `anthropic-version`, as the Anthropic SDK
always does; the entries carry the same metadata either way.
"""

from __future__ import annotations

from typing import Any

from litestar import Request, get

from app.api.inference.aliases import PREFIXES
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.keys import authenticate
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import CatalogSnapshot, ResolvedModel
from app.health.scores import HealthRegistry
from strategies.base import HealthSnapshot

__all__ = ["model_card", "models_handlers"]

Json = dict[str, Any]


def _health(snapshot: HealthSnapshot) -> Json:
    status = "down" if snapshot.breaker == "open" else "degraded" if snapshot.error_rate > 0.2 else "healthy"
    return {
        "status": status,
        "breaker": snapshot.breaker,
        "error_rate": round(snapshot.error_rate, 3),
        "latency_ms": round(snapshot.latency_ms, 1) if snapshot.latency_ms is not None else None,
        "ttft_ms": round(snapshot.ttft_ms, 1) if snapshot.ttft_ms is not None else None,
    }


def model_card(resolved: ResolvedModel, catalog: CatalogSnapshot, health: HealthRegistry) -> Json:
    """One entry of the OpenAI model list plus Polyroute's metadata."""
    targets: list[Json] = []
    for spec in resolved.targets:
        provider = catalog.providers.get(spec.provider)
        if provider is None or not provider.enabled:
            continue
        model = provider.model(spec.model)
        targets.append(
            {
                "provider": provider.name,
                "kind": provider.kind,
                "model": spec.model,
                "context_window": model.context_window,
                "max_output_tokens": model.max_output_tokens,
                "pricing": {
                    "input_per_mtok": model.input_cost_per_mtok,
                    "output_per_mtok": model.output_cost_per_mtok,
                    "cached_input_per_mtok": model.cached_input_cost_per_mtok,
                },
                "capabilities": {
                    "tools": model.tools,
                    "vision": model.vision,
                    "reasoning": model.reasoning,
                    "streaming": model.streaming,
                },
                "health": _health(health.snapshot(f"{provider.name}/{spec.model}")),
            }
        )
    first = targets[0] if targets else {}
    statuses = {t["health"]["status"] for t in targets}
    overall = "healthy" if "healthy" in statuses else "degraded" if "degraded" in statuses else "down"
    return {
        "id": resolved.name,
        "object": "model",
        "created": 0,
        "owned_by": resolved.targets[0].provider if resolved.route is None else "polyroute",
        "type": "route" if resolved.route is not None else "model",
        "strategy": resolved.strategy if resolved.route is not None else None,
        "context_window": first.get("context_window"),
        "pricing": first.get("pricing"),
        "capabilities": first.get("capabilities"),
        "provider": first.get("provider"),
        "targets": targets,
        "health": overall if targets else "down",
    }


def _listed(catalog: CatalogSnapshot) -> list[ResolvedModel]:
    """Full names only: a bare alias would list the same model twice."""
    return [r for name, r in sorted(catalog.models.items()) if name == r.name]


def _context(request: Request[Any, Any, Any]) -> tuple[Any, Any]:
    rt = request.app.state.runtime
    key = authenticate(dict(request.headers), rt.catalog.snapshot)
    return rt, key


def _anthropic(card: Json) -> Json:
    return {"type": "model", "display_name": card["id"], "created_at": _EPOCH, **card}


_EPOCH = "1970-01-01T00:00:00Z"


def _anthropic_page(cards: list[Json], query: Any) -> Json:
    """Anthropic's paging: `limit` (1-1000, default 20) entries after `after_id` or before `before_id`."""
    try:
        limit = int(query.get("limit") or 20)
    except ValueError:
        raise InvalidRequestError("limit must be an integer from 1 to 1000", param="limit") from None
    if not 1 <= limit <= 1000:
        raise InvalidRequestError("limit must be an integer from 1 to 1000", param="limit")
    ids = [c["id"] for c in cards]
    after, before = query.get("after_id"), query.get("before_id")
    if before:
        end = ids.index(before) if before in ids else len(ids)
        start = max(0, end - limit)
    else:
        start = ids.index(after) + 1 if after in ids else 0
        end = start + limit
    page = [_anthropic(c) for c in cards[start:end]]
    more = start > 0 if before else end < len(cards)
    return {
        "data": page,
        "has_more": more,
        "first_id": page[0]["id"] if page else None,
        "last_id": page[-1]["id"] if page else None,
    }


@get([p + "/models" for p in PREFIXES], include_in_schema=False, sync_to_thread=False)
def list_models(request: Request[Any, Any, Any]) -> Json:
    rt, key = _context(request)
    catalog = rt.catalog.snapshot
    data = [model_card(r, catalog, rt.gateway.health) for r in _listed(catalog) if model_allowed(key, r.name)]
    if "anthropic-version" in request.headers:
        return _anthropic_page(data, request.query_params)
    return {"object": "list", "data": data}


@get([p + "/models/{model_id:path}" for p in PREFIXES], include_in_schema=False, sync_to_thread=False)
def get_model(request: Request[Any, Any, Any], model_id: str) -> Json:
    rt, key = _context(request)
    name = model_id.lstrip("/")
    resolved = rt.catalog.snapshot.resolve_name(name)
    if resolved is None or not model_allowed(key, name, (resolved.name,)):
        raise NotFoundError(f"Model '{name}' not found")
    card = model_card(resolved, rt.catalog.snapshot, rt.gateway.health)
    return _anthropic(card) if "anthropic-version" in request.headers else card


def models_handlers() -> list[Any]:
    return [list_models, get_model]
