"""Model name -> the route or provider model it names, checked against the caller's plan."""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence

from app.errors import InvalidModelError, ModelNotAllowedError
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ResolvedModel

__all__ = ["model_allowed", "resolve"]


def _matches(patterns: Sequence[str], names: tuple[str, ...]) -> bool:
    # "*" (every model) is the usual plan: answered without fnmatch's pattern cache and regex.
    return any(p == "*" or fnmatch.fnmatchcase(n, p) for p in patterns for n in names)


def model_allowed(key: KeyRecord, name: str, aliases: tuple[str, ...] = ()) -> bool:
    """A key's own allow-list and its team's narrow its plan's; all are glob patterns over routable names."""
    plan, allowed, team = key.plan, key.allowed_models, key.team
    if allowed is None and (plan is None or plan.models == _EVERY_MODEL) and (team is None or team.models is None):
        return True  # the usual key: nothing to match, so no matching code on its path
    names = (name, *aliases)
    if plan is not None and not _matches(plan.models, names):
        return False
    if team is not None and team.models is not None and not _matches(team.models, names):
        return False
    return allowed is None or _matches(allowed, names)


_EVERY_MODEL = ["*"]


def resolve(name: str, snapshot: CatalogSnapshot, key: KeyRecord) -> ResolvedModel:
    resolved = snapshot.resolve_name(name)
    if resolved is None:
        raise InvalidModelError(f"Unknown model '{name}'", param="model")
    if not model_allowed(key, name, (resolved.name,)):
        whose = f"team '{key.team.name}'" if key.team is not None and key.team.models is not None else "plan"
        raise ModelNotAllowedError(f"Model '{name}' is not allowed for this API key's {whose}", param="model")
    return resolved
