"""Request hooks: built-ins plus any registered under the `polyroute.hooks` entry points."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import entry_points
from typing import Any

from hooks.base import BaseHook, HookContext, HookFactory, HookResponse, HookVerdict, RequestHook
from hooks.deny_list import DenyList
from hooks.max_prompt import MaxPrompt

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
]

ENTRY_POINT_GROUP = "polyroute.hooks"

_BUILTINS: dict[str, HookFactory] = {cls.name: cls for cls in (DenyList, MaxPrompt)}


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
