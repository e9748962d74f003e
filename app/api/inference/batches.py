"""/v1/batches (create, get, list, cancel), /v1/files and /v1/messages/batches, with the coordinator that runs them."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any

import msgspec
from litestar import Request, Response, get, post
from msgspec import Meta

from app.api.decode import decode_json_object, validate_envelope
from app.api.inference.aliases import INFERENCE_ROUTES, PREFIXES
from app.api.inference.files import file_handlers, json_response, page_query, read_limited
from app.api.inference.message_batches import message_batch_handlers
from app.batches import files, message_batches, store
from app.batches.coordinator import BatchCoordinator
from app.batches.emulated import TaskQueue
from app.batches.lines import ENDPOINTS
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.keys import authenticate
from app.gateway.snapshot import KeyRecord

if TYPE_CHECKING:
    from app.runtime import Runtime

__all__ = ["BatchApi", "BatchCreate", "batch_api"]


class BatchCreate(msgspec.Struct, forbid_unknown_fields=False):
    """POST /v1/batches, as OpenAI takes it."""

    input_file_id: str
    endpoint: str
    completion_window: str
    metadata: Annotated[dict[str, str], Meta(max_length=16)] | None = None


@dataclass
class BatchApi:
    coordinator: BatchCoordinator
    handlers: list[Any]


def batch_api(rt: Runtime, queue: TaskQueue) -> BatchApi:
    """The coordinator (started by the app's lifespan) and the /v1/batches and /v1/files handlers."""
    runnable = (*ENDPOINTS, message_batches.ENDPOINT)
    endpoints = {"/v1" + r.suffix: r for r in INFERENCE_ROUTES if "/v1" + r.suffix in runnable}
    coordinator = BatchCoordinator(
        rt.settings,
        catalog=rt.catalog,
        queue=queue,
        usage=rt.gateway.usage,
        endpoints=endpoints,
        limiter=rt.gateway.limiter,
        watch=rt.lease_watch(),
    )
    limit = rt.settings.max_body_bytes

    def caller(headers: Mapping[str, str]) -> KeyRecord:
        return authenticate(headers, rt.catalog.snapshot)

    @post([p + "/batches" for p in PREFIXES], status_code=200, include_in_schema=False, request_max_body_size=None)
    async def create_batch(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        doc = validate_envelope(decode_json_object(await read_limited(request, limit)), BatchCreate)
        if doc.endpoint not in ENDPOINTS:
            raise InvalidRequestError(f"'endpoint' must be one of: {', '.join(ENDPOINTS)}", param="endpoint")
        if doc.completion_window != "24h":
            raise InvalidRequestError("'completion_window' must be '24h'", param="completion_window")
        found = await files.get(doc.input_file_id, key.id)
        if found is None:
            raise NotFoundError(f"No file '{doc.input_file_id}'", param="input_file_id")
        if found.purpose != "batch":
            raise InvalidRequestError("The input file's purpose must be 'batch'", param="input_file_id")
        batch = await store.create(
            key_id=key.id,
            endpoint=doc.endpoint,
            input_file_id=found.id,
            completion_window=doc.completion_window,
            metadata=doc.metadata,
        )
        coordinator.wake()
        return json_response(200, batch.public())

    @get([p + "/batches" for p in PREFIXES], include_in_schema=False)
    async def list_batches(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        limit_, after = page_query(request.query_params)
        page, more = await store.list_batches(key.id, limit=limit_, after=after)
        items = [b.public() for b in page]
        first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
        return json_response(
            200, {"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": more}
        )

    @get([p + "/batches/{batch_id:str}" for p in PREFIXES], include_in_schema=False)
    async def get_batch(request: Request[Any, Any, Any], batch_id: str) -> Response[bytes]:
        found = await store.get(batch_id, caller(request.headers).id)
        if found is None:
            raise NotFoundError(f"No batch '{batch_id}'")
        return json_response(200, found.public())

    @post([p + "/batches/{batch_id:str}/cancel" for p in PREFIXES], status_code=200, include_in_schema=False)
    async def cancel_batch(request: Request[Any, Any, Any], batch_id: str) -> Response[bytes]:
        batch = await store.request_cancel(batch_id, caller(request.headers).id)
        coordinator.wake()
        return json_response(200, batch.public())

    handlers = [
        create_batch,
        list_batches,
        get_batch,
        cancel_batch,
        *file_handlers(caller, limit),
        *message_batch_handlers(caller, coordinator, limit),
    ]
    return BatchApi(coordinator, handlers)
