"""Which UI controllers need a signed-in viewer, and which are for admins only."""

from __future__ import annotations

from typing import Any

from app.api.ui.home import home
from app.api.ui.plans import PlansController
from app.api.ui.providers import ProvidersController
from app.api.ui.routes import RoutesController

__all__ = ["ACCOUNT", "ADMIN"]

ACCOUNT: list[Any] = [home]
"""Any signed-in viewer; handlers scope users to their own keys, usage and requests."""

ADMIN: list[Any] = [ProvidersController, RoutesController, PlansController]
"""Administrators only: everyone else gets the 403 page."""
