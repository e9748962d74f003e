"""GET, DELETE /v1/responses/{id} and GET .../input_items: stored responses, only for the key that made them."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get
from litestar.response import Response

from app.api.inference.aliases import PREFIXES
from app.errors import InvalidRequestError, NotFoundError
from app.gateway.keys import authenticate
from app.translate.responses.input_items import input_items

__all__ = ["stored_response_handlers"]

_PATHS = [p + "/responses/{response_id:str}" for p in PREFIXES]


def _runtime(request: Request[Any, Any, Any]) -> Any:
    return request.app.state.runtime


@get(_PATHS, include_in_schema=False)
async def get_response(request: Request[Any, Any, Any], response_id: str) -> Response[Any]:
    rt = _runtime(request)
    key = authenticate(dict(request.headers), rt.catalog.snapshot)
    found = await rt.gateway.responses.get(response_id, key.id)
    if found is None:
        raise NotFoundError(f"Response '{response_id}' not found")
    return Response(found.response)


@delete(_PATHS, include_in_schema=False, status_code=200)
async def delete_response(request: Request[Any, Any, Any], response_id: str) -> dict[str, Any]:
    rt = _runtime(request)
    key = authenticate(dict(request.headers), rt.catalog.snapshot)
    if not await rt.gateway.responses.delete(response_id, key.id):
        raise NotFoundError(f"Response '{response_id}' not found")
    return {"id": response_id, "object": "response.deleted", "deleted": True}


@get([p + "/input_items" for p in _PATHS], include_in_schema=False)
async def list_input_items(request: Request[Any, Any, Any], response_id: str) -> dict[str, Any]:
    """The items the response was generated from (earlier turns included), paged as OpenAI pages lists."""
    rt = _runtime(request)
    key = authenticate(dict(request.headers), rt.catalog.snapshot)
    query = request.query_params
    raw_limit = query.get("limit") or "20"
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= 100:
        raise InvalidRequestError("limit must be an integer from 1 to 100", param="limit")
    order = query.get("order") or "desc"
    if order not in ("asc", "desc"):
        raise InvalidRequestError("order must be 'asc' or 'desc'", param="order")
    found = await rt.gateway.responses.get(response_id, key.id)
    if found is None:
        raise NotFoundError(f"Response '{response_id}' not found")
    items = input_items(found.response, found.history())
    if order == "desc":
        items.reverse()
    after = query.get("after")
    if after:
        ids = [item["id"] for item in items]
        if after not in ids:
            raise InvalidRequestError(f"No input item '{after}' in response '{response_id}'", param="after")
        items = items[ids.index(after) + 1 :]
    page = items[: int(raw_limit)]
    first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
    return {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(items) > len(page)}


def stored_response_handlers() -> list[Any]:
    return [get_response, delete_response, list_input_items]
