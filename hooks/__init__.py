"""Request hooks: built-ins plus any registered under the `polyroute.hooks` entry points."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from importlib.metadata import entry_points
from typing import Any

from hooks.base import BaseHook, HookContext, HookFactory, HookResponse, HookVerdict, RequestHook
from hooks.deny_list import DenyList
from hooks.max_prompt import MaxPrompt
from hooks.moderation import Moderation
from hooks.pii import PiiMask
from hooks.webhook import Webhook

__all__ = [
    "ENTRY_POINT_GROUP",
    "BaseHook",
    "HookContext",
    "HookResponse",
    "HookVerdict",
    "RequestHook",
    "UnknownHookError",
    "available",
    "build",
    "problems",
]

ENTRY_POINT_GROUP = "polyroute.hooks"

_BUILTINS: dict[str, HookFactory] = {cls.name: cls for cls in (DenyList, MaxPrompt, Moderation, PiiMask, Webhook)}


class UnknownHookError(LookupError):
    """No built-in or registered hook has this name, or what is registered is not a hook."""


def _from_entry_points(name: str) -> HookFactory | None:
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        if ep.name == name:
            loaded: HookFactory = ep.load()
            return loaded
    return None


def available() -> list[str]:
    names = set(_BUILTINS)
    names.update(ep.name for ep in entry_points(group=ENTRY_POINT_GROUP))
    return sorted(names)


def build(name: str, options: Mapping[str, Any] | None = None) -> RequestHook:
    """A hook instance for `name` configured with `options`; ValueError when the options are wrong."""
    factory = _BUILTINS.get(name) or _from_entry_points(name)
    if factory is None:
        raise UnknownHookError(f"unknown hook {name!r}; available: {', '.join(available())}")
    instance = factory(dict(options or {}))
    if not isinstance(instance, RequestHook):
        raise UnknownHookError(f"{name!r} does not implement the RequestHook protocol (before, after)")
    return instance


def problems(
    names: Sequence[str],
    options: Mapping[str, Mapping[str, Any]],
    defaults: Mapping[str, Mapping[str, Any]] | None = None,
) -> list[tuple[str, str]]:
    """(field, message) for each hook a route names that is unknown or cannot be built with its options
    (over `defaults`, the global POLYROUTE_HOOK_OPTIONS), so a route is refused when saved rather than
    answering 500 at its first request."""
    out: list[tuple[str, str]] = []
    for i, name in enumerate(names):
        merged = {**(defaults or {}).get(name, {}), **options.get(name, {})}
        try:
            build(name, merged)
        except UnknownHookError as exc:
            out.append((f"params.hooks[{i}]", str(exc)))
        except (LookupError, ValueError, TypeError, re.error) as exc:
            out.append((f"params.hook_options.{name}", f"hook {name!r}: {exc}"))
    return out
