"""/v1/messages/batches: Anthropic's Message Batches API (`client.messages.batches`) on the batch runner."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from litestar import Request, Response, delete, get, post
from litestar.response import Stream

from app.api.decode import decode_json_object
from app.api.inference.aliases import PREFIXES
from app.api.inference.files import json_response, read_limited
from app.batches import files, message_batches, store
from app.batches.coordinator import BatchCoordinator
from app.batches.lines import to_jsonl
from app.batches.store import BatchRecord
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.snapshot import KeyRecord

__all__ = ["message_batch_handlers"]

_PATHS = [p + "/messages/batches" for p in PREFIXES]
_PAGE = 1000


def _results_url(request: Request[Any, Any, Any], batch_id: str) -> str:
    """Where the results are, as the caller reached us (the SDK fetches this URL as given)."""
    base = str(request.url).split("?", 1)[0]
    return base[: base.index("/messages/batches")] + f"/messages/batches/{batch_id}/results"


def _page_query(query: Mapping[str, str]) -> tuple[int, str | None, str | None]:
    """(limit, after_id, before_id) as Anthropic's list endpoints take them."""
    raw = query.get("limit") or "20"
    if not raw.isdigit() or not 1 <= int(raw) <= 1000:
        raise InvalidRequestError("limit must be an integer from 1 to 1000", param="limit")
    after, before = query.get("after_id") or None, query.get("before_id") or None
    if after and before:
        raise InvalidRequestError("give after_id or before_id, not both", param="before_id")
    return int(raw), after, before


async def _results(batch: BatchRecord) -> AsyncIterator[bytes]:
    """The results file, a page of lines at a time (a batch may hold 50,000)."""
    after = -1
    while True:
        page = await store.lines(batch.id, limit=_PAGE, after_no=after)
        if page:
            yield to_jsonl([message_batches.result_line(line, batch.status) for line in page])
        if len(page) < _PAGE:
            return
        after = page[-1].line_no


def message_batch_handlers(
    caller: Callable[[Mapping[str, str]], KeyRecord], coordinator: BatchCoordinator, max_body_bytes: int
) -> list[Any]:
    async def _mine(batch_id: str, key: KeyRecord) -> BatchRecord:
        found = await store.get(batch_id, key.id)
        if found is None or found.endpoint != message_batches.ENDPOINT:
            raise NotFoundError(f"No message batch '{batch_id}'")
        return found

    async def _public(request: Request[Any, Any, Any], batch: BatchRecord) -> dict[str, Any]:
        counts = await store.count_lines(batch.id)
        return message_batches.batch_object(batch, counts, _results_url(request, batch.id))

    @post(_PATHS, status_code=200, include_in_schema=False, request_max_body_size=None)
    async def create_message_batch(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        doc = decode_json_object(await read_limited(request, max_body_bytes))
        content = message_batches.input_lines(doc)
        requests = content.count(b"\n")
        # The requests become the batch's input file, as an OpenAI batch's would be uploaded.
        source = await files.create(key.id, "message_batch_requests.jsonl", "message_batch", content)
        batch = await store.create(
            key_id=key.id,
            endpoint=message_batches.ENDPOINT,
            input_file_id=source.id,
            completion_window="24h",
            metadata=None,
            prefix=message_batches.ID_PREFIX,
            total=requests,
        )
        coordinator.wake()
        return json_response(200, await _public(request, batch))

    @get(_PATHS, include_in_schema=False)
    async def list_message_batches(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        limit, after, before = _page_query(request.query_params)
        page, more = await store.list_batches(key.id, limit=limit, after=after, before=before, messages=True)
        items = [await _public(request, b) for b in page]
        first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
        return json_response(200, {"data": items, "has_more": more, "first_id": first, "last_id": last})

    @get([p + "/{batch_id:str}" for p in _PATHS], include_in_schema=False)
    async def get_message_batch(request: Request[Any, Any, Any], batch_id: str) -> Response[bytes]:
        return json_response(200, await _public(request, await _mine(batch_id, caller(request.headers))))

    @post([p + "/{batch_id:str}/cancel" for p in _PATHS], status_code=200, include_in_schema=False)
    async def cancel_message_batch(request: Request[Any, Any, Any], batch_id: str) -> Response[bytes]:
        key = caller(request.headers)
        batch = await _mine(batch_id, key)
        if message_batches.processing_status(batch) == "in_progress":
            batch = await store.request_cancel(batch_id, key.id)
            coordinator.wake()
        return json_response(200, await _public(request, batch))

    @delete([p + "/{batch_id:str}" for p in _PATHS], status_code=200, include_in_schema=False)
    async def delete_message_batch(request: Request[Any, Any, Any], batch_id: str) -> Response[bytes]:
        key = caller(request.headers)
        batch = await store.delete((await _mine(batch_id, key)).id, key.id)
        for file_id in (batch.input_file_id, batch.output_file_id, batch.error_file_id):
            if file_id is not None:  # the requests, and the OpenAI-shaped files the runner wrote at the end
                await files.delete(file_id, key.id)
        return json_response(200, {"id": batch.id, "type": "message_batch_deleted"})

    @get([p + "/{batch_id:str}/results" for p in _PATHS], include_in_schema=False)
    async def message_batch_results(request: Request[Any, Any, Any], batch_id: str) -> Stream:
        batch = await _mine(batch_id, caller(request.headers))
        if message_batches.processing_status(batch) != "ended":
            raise NotFoundError(f"Message batch '{batch_id}' has not ended; its results are not ready")

        return Stream(_results(batch), media_type="application/x-jsonl")

    return [
        create_message_batch,
        list_message_batches,
        get_message_batch,
        cancel_message_batch,
        delete_message_batch,
        message_batch_results,
    ]
