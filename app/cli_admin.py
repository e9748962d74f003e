"""CLI verbs that manage keys and admin users directly in the database."""

from __future__ import annotations

from typing import Any

__all__ = ["register"]


def register(sub: Any) -> None:
    """Key and user management verbs are added in their own issue; nothing to register yet."""
    del sub
