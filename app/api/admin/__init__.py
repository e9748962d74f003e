"""Management API (admin key or JWT): providers, routes, plans, keys, users, usage, health."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["admin_handlers"]


def admin_handlers(rt: Runtime) -> list[Any]:
    """Every management route handler / controller, for `create_app` to register."""
    del rt
    return []
