"""/ui/tasks: asynchronous tasks (POST /v1/tasks, `Prefer: respond-async`) with their status.

The task store lists one key's tasks at a time, so the page merges the newest tasks of each key
the viewer may see (at most `MERGED_KEYS` keys at once; with more, pick a key).
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, get
from litestar.response import Template

from app.catalog.services import api_keys
from app.runtime import Runtime
from app.tasks import store
from app.tasks.store import STATUSES, TaskRecord
from app.ui_support.render import page
from app.ui_support.session import Viewer

__all__ = ["TasksController"]

PAGE_SIZE = 50
MERGED_KEYS = 25


class TasksController(Controller):
    path = "/tasks"

    @get("/", name="ui-tasks")
    async def index(
        self, request: Request[Any, Any, Any], rt: Runtime, viewer: Viewer, key_id: str = "", status: str = ""
    ) -> Template:
        keys, _ = await api_keys.list_keys(user_id=None if viewer.is_admin else viewer.user_id or "-", limit=500)
        names = {k.id: k.name for k in keys}
        chosen = [key_id] if key_id in names else list(names)
        too_many = len(chosen) > MERGED_KEYS
        wanted = status if status in STATUSES else None
        tasks: list[TaskRecord] = []
        for kid in [] if too_many else chosen:
            found, _ = await store.list_tasks(kid, status=wanted, limit=PAGE_SIZE, after=None)
            tasks.extend(found)
        tasks = sorted(tasks, key=lambda t: t.id, reverse=True)[:PAGE_SIZE]
        context: dict[str, Any] = {
            "tasks": tasks,
            "names": names,
            "key_id": key_id,
            "status_filter": status,
            "statuses": STATUSES,
        }
        return page(request, "tasks/index.html", too_many=too_many, **context)
