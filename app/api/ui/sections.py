"""Which UI controllers need a signed-in viewer, and which are for admins only."""

from __future__ import annotations

from typing import Any

from app.api.ui.account import AccountController
from app.api.ui.alerts import AlertsController
from app.api.ui.audit import AuditController
from app.api.ui.dashboard import DashboardController
from app.api.ui.home import home
from app.api.ui.keys import KeysController
from app.api.ui.models import ModelsController
from app.api.ui.plans import PlansController
from app.api.ui.playground import PlaygroundController
from app.api.ui.prompts import PromptsController
from app.api.ui.providers import ProvidersController
from app.api.ui.requests import RequestsController
from app.api.ui.routes import RoutesController
from app.api.ui.tasks import TasksController
from app.api.ui.teams import TeamsController
from app.api.ui.usage import UsageController

__all__ = ["ACCOUNT", "ADMIN"]

ACCOUNT: list[Any] = [
    home,
    AccountController,
    KeysController,
    UsageController,
    RequestsController,
    ModelsController,
    PlaygroundController,
]
"""Any signed-in viewer; handlers scope users to their own keys, usage and requests."""

ADMIN: list[Any] = [
    DashboardController,
    ProvidersController,
    RoutesController,
    PlansController,
    TeamsController,
    PromptsController,
    TasksController,
    AlertsController,
    AuditController,
]
"""Administrators only: everyone else gets the 403 page."""
