"""Fallback models named in the request: OpenRouter's `models` and LiteLLM's `fallbacks` body fields.

`{"model": "a", "models": ["b", "c"]}` tries `a`'s targets, in its route's order, then `b`'s, then `c`'s.
The fields are the gateway's, not the upstream's: they are taken out of the body before anything is
sent (an upstream would refuse an argument it does not know). Each name is resolved and checked against
the key's plan like the `model` itself.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.errors import GatewayError, InvalidRequestError
from app.gateway.attempt_outcomes import Target
from app.gateway.snapshot import ResolvedModel
from strategies.base import Candidate

__all__ = ["FIELDS", "MAX_FALLBACKS", "rank_each", "take_fallbacks"]

FIELDS = ("models", "fallbacks")
MAX_FALLBACKS = 8


def take_fallbacks(body: dict[str, Any]) -> list[str]:
    """Pops the fields from `body`: the model names they list, in order, without repeats."""
    names: list[str] = []
    for field in FIELDS:
        value = body.pop(field, None)
        if value is None:
            continue
        if not isinstance(value, list):
            raise InvalidRequestError(f"'{field}' must be a list of model names", param=field)
        for i, item in enumerate(value):
            name = item.get("model") if isinstance(item, dict) else item  # LiteLLM also takes {"model": ...}
            if not isinstance(name, str) or not name:
                raise InvalidRequestError(f"'{field}[{i}]' must be a model name", param=f"{field}[{i}]")
            names.append(name)
    names = list(dict.fromkeys(names))
    if len(names) > MAX_FALLBACKS:
        raise InvalidRequestError(f"At most {MAX_FALLBACKS} fallback models; got {len(names)}", param=FIELDS[0])
    return names


def rank_each(
    models: list[ResolvedModel], rank: Callable[[ResolvedModel], tuple[list[Target], list[Candidate]]]
) -> tuple[list[Target], list[Candidate]]:
    """Each model's targets in its own ranked order, one model after the other, a target named twice
    tried once. A model none of whose targets can be called (all disabled, or over their budgets) gives
    way to the next; when none can, the first one's reason is the answer."""
    if len(models) == 1:
        return rank(models[0])
    targets: list[Target] = []
    ranked: list[Candidate] = []
    first_error: GatewayError | None = None
    for model in models:
        try:
            found, order = rank(model)
        except GatewayError as exc:
            first_error = first_error or exc
            continue
        seen = {t.key for t in targets}
        targets += [t for t in found if t.key not in seen]
        ranked += order
    if not targets and first_error is not None:
        raise first_error
    return targets, ranked
