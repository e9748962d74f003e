"""/v1/tasks (create, list, get, cancel) and the `Prefer: respond-async` hook of every inference endpoint."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from litestar import Request, Response, delete, get, post

from app.api.decode import decode_json_object, validate_envelope
from app.api.inference.aliases import INFERENCE_ROUTES, PREFIXES, InferenceRoute
from app.api.inference.files import read_limited
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.call import Call, Reply
from app.gateway.keys import authenticate
from app.gateway.snapshot import KeyRecord
from app.tasks import store
from app.tasks.runner import TaskRunner
from app.tasks.store import STATUSES, TaskRecord, TaskStatus
from app.tasks.submit import check_body, check_webhook_url, wants_async

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["TaskApi", "TaskCreate", "task_api"]

_MAX_PAGE = 100


class TaskCreate(msgspec.Struct, forbid_unknown_fields=True):
    """POST /v1/tasks: an inference call to run later."""

    endpoint: str
    """An inference path, e.g. `/v1/chat/completions`."""
    body: dict[str, Any]
    """That endpoint's request body; `stream` is forced off."""
    webhook_url: str | None = None
    """POSTed the task object (signed) when the task ends."""


@dataclass
class TaskApi:
    runner: TaskRunner
    handlers: list[Any]
    respond_async: Callable[[Call], Awaitable[Reply | None]]
    """For `inference_app`: a 202 with a task when the call says `Prefer: respond-async`, else None."""


def _json(status: int, doc: Any, headers: Mapping[str, str] | None = None) -> Response[bytes]:
    return Response(msgspec.json.encode(doc), status_code=status, media_type="application/json", headers=headers)


def _location(task: TaskRecord) -> str:
    return f"/v1/tasks/{task.id}"


def _list_query(query: Mapping[str, str]) -> tuple[TaskStatus | None, int, str | None]:
    status = query.get("status") or None
    if status is not None and status not in STATUSES:
        raise InvalidRequestError(f"status must be one of {', '.join(STATUSES)}", param="status")
    raw_limit = query.get("limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= _MAX_PAGE:
        raise InvalidRequestError(f"limit must be an integer from 1 to {_MAX_PAGE}", param="limit")
    return status, int(raw_limit), query.get("after") or None


def task_api(rt: Runtime) -> TaskApi:
    """The runner, the route handlers and the Prefer hook, sharing one route table."""
    by_path: dict[str, InferenceRoute] = {path: route for route in INFERENCE_ROUTES for path in route.paths}
    canonical = {route.endpoint: "/v1" + route.suffix for route in INFERENCE_ROUTES}
    by_name = {route.endpoint: route for route in INFERENCE_ROUTES}
    runner = TaskRunner(
        rt.settings, handle=rt.gateway.handle, catalog=rt.catalog, endpoints=by_path.get, watch=rt.lease_watch()
    )
    settings = rt.settings

    def caller(headers: Mapping[str, str]) -> KeyRecord:
        return authenticate(headers, rt.catalog.snapshot)

    @post([p + "/tasks" for p in PREFIXES], status_code=202, include_in_schema=False, request_max_body_size=None)
    async def create_task(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        raw = await read_limited(request, settings.max_body_bytes)
        doc = validate_envelope(decode_json_object(raw), TaskCreate)
        route = by_path.get(doc.endpoint)
        if route is None:
            raise NotFoundError(f"No inference endpoint '{doc.endpoint}' (e.g. /v1/chat/completions)", param="endpoint")
        body = check_body(route, msgspec.json.encode(doc.body), key, rt.catalog.snapshot)
        webhook = check_webhook_url(doc.webhook_url, settings.webhook_allowed_hosts) if doc.webhook_url else None
        task = await runner.enqueue(key, canonical[route.endpoint], body, request.headers, webhook)
        return _json(202, task.public(), {"Location": _location(task)})

    @get([p + "/tasks" for p in PREFIXES], include_in_schema=False)
    async def list_tasks(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        status, limit, after = _list_query(request.query_params)
        page, more = await store.list_tasks(key.id, status=status, limit=limit, after=after)
        first, last = (page[0].id, page[-1].id) if page else (None, None)
        data = [t.public() for t in page]
        return _json(200, {"object": "list", "data": data, "first_id": first, "last_id": last, "has_more": more})

    @get([p + "/tasks/{task_id:str}" for p in PREFIXES], include_in_schema=False)
    async def get_task(request: Request[Any, Any, Any], task_id: str) -> Response[bytes]:
        key = caller(request.headers)
        task = await store.get(task_id, key.id)
        if task is None:
            raise NotFoundError(f"No task '{task_id}'")
        return _json(200, task.public())

    @delete([p + "/tasks/{task_id:str}" for p in PREFIXES], status_code=200, include_in_schema=False)
    async def cancel_task(request: Request[Any, Any, Any], task_id: str) -> Response[bytes]:
        key = caller(request.headers)
        return _json(200, (await runner.cancel(task_id, key.id)).public())

    async def respond_async(call: Call) -> Reply | None:
        route = by_name.get(call.endpoint)
        if route is None or not wants_async(call.headers.get("prefer")):
            return None
        key = caller(call.headers)
        body = check_body(route, call.raw, key, rt.catalog.snapshot)
        task = await runner.enqueue(key, canonical[route.endpoint], body, call.headers, None)
        headers = [
            (b"content-type", b"application/json"),
            (b"location", _location(task).encode()),
            (b"preference-applied", b"respond-async"),
        ]
        return Reply(202, headers, msgspec.json.encode(task.public()))

    return TaskApi(runner, [create_task, list_tasks, get_task, cancel_task], respond_async)
