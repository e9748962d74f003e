"""/v1/files: upload a batch input (multipart), read, download, list and delete files; scoped to the key."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import msgspec
from litestar import Request, Response, delete, get, post

from app.api.inference.aliases import PREFIXES
from app.batches import files
from app.errors import InvalidRequestError, NotFoundError, PayloadTooLargeError
from app.gateway.multipart import parse_form
from app.gateway.snapshot import KeyRecord

__all__ = ["file_handlers", "json_response", "page_query", "read_limited"]

PURPOSES = ("batch",)
"""What may be uploaded; files a batch produces have the purpose `batch_output`."""
_MAX_PAGE = 10_000
_DRAIN_SLACK = 1024 * 1024
"""An oversized body up to this much over the limit is read (and dropped) so the client sees the 413."""

Caller = Callable[[Mapping[str, str]], KeyRecord]


def json_response(status: int, doc: Any) -> Response[bytes]:
    return Response(msgspec.json.encode(doc), status_code=status, media_type="application/json")


async def read_limited(request: Request[Any, Any, Any], limit: int) -> bytes:
    """The body, or a 413 (which closes the connection: the rest stays unread)."""
    too_large = PayloadTooLargeError(f"Request body exceeds the limit of {limit} bytes")
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + _DRAIN_SLACK:
        raise too_large
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit + _DRAIN_SLACK:
            raise too_large
        if size <= limit:
            chunks.append(chunk)
    if size > limit:
        raise too_large
    return b"".join(chunks)


def page_query(query: Mapping[str, str], default: int = 20, largest: int = 100) -> tuple[int, str | None]:
    raw = query.get("limit") or str(default)
    if not raw.isdigit() or not 1 <= int(raw) <= largest:
        raise InvalidRequestError(f"limit must be an integer from 1 to {largest}", param="limit")
    return int(raw), query.get("after") or None


def _page(items: list[dict[str, Any]], more: bool) -> dict[str, Any]:
    first, last = (items[0]["id"], items[-1]["id"]) if items else (None, None)
    return {"object": "list", "data": items, "first_id": first, "last_id": last, "has_more": more}


def file_handlers(caller: Caller, max_body_bytes: int) -> list[Any]:
    paths = [p + "/files" for p in PREFIXES]
    one = [p + "/files/{file_id:str}" for p in PREFIXES]

    @post(paths, status_code=200, include_in_schema=False, request_max_body_size=None)
    async def upload_file(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        raw = await read_limited(request, max_body_bytes)
        form = parse_form(raw, request.headers.get("content-type"))
        purpose = form.value("purpose")
        if purpose not in PURPOSES:
            raise InvalidRequestError(f"'purpose' must be one of: {', '.join(PURPOSES)}", param="purpose")
        upload = form.part("file")
        if upload is None or upload.filename is None:
            raise InvalidRequestError("Missing required field 'file' (a file upload)", param="file")
        if upload.size == 0:
            raise InvalidRequestError("The uploaded 'file' is empty", param="file")
        record = await files.create(key.id, upload.filename[:500], purpose, form.data(upload))
        return json_response(200, record.public())

    @get(paths, include_in_schema=False)
    async def list_files(request: Request[Any, Any, Any]) -> Response[bytes]:
        key = caller(request.headers)
        limit, after = page_query(request.query_params, default=10_000, largest=_MAX_PAGE)
        purpose = request.query_params.get("purpose") or None
        page, more = await files.list_files(key.id, purpose=purpose, limit=limit, after=after)
        return json_response(200, _page([f.public() for f in page], more))

    @get(one, include_in_schema=False)
    async def get_file(request: Request[Any, Any, Any], file_id: str) -> Response[bytes]:
        found = await files.get(file_id, caller(request.headers).id)
        if found is None:
            raise NotFoundError(f"No file '{file_id}'", param="file_id")
        return json_response(200, found.public())

    @get([p + "/files/{file_id:str}/content" for p in PREFIXES], include_in_schema=False)
    async def file_content(request: Request[Any, Any, Any], file_id: str) -> Response[bytes]:
        content = await files.read(file_id, caller(request.headers).id)
        if content is None:
            raise NotFoundError(f"No file '{file_id}'", param="file_id")
        return Response(content, status_code=200, media_type="application/octet-stream")

    @delete(one, status_code=200, include_in_schema=False)
    async def delete_file(request: Request[Any, Any, Any], file_id: str) -> Response[bytes]:
        if not await files.delete(file_id, caller(request.headers).id):
            raise NotFoundError(f"No file '{file_id}'", param="file_id")
        return json_response(200, {"id": file_id, "object": "file", "deleted": True})

    return [upload_file, list_files, get_file, file_content, delete_file]
