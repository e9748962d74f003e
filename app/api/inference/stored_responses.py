"""GET and DELETE /v1/responses/{id}: stored responses, visible only to the key that made them."""

from __future__ import annotations

from typing import Any

from litestar import Request, delete, get
from litestar.response import Response

from app.api.inference.aliases import PREFIXES
from app.errors import NotFoundError
from app.gateway.keys import authenticate

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


def stored_response_handlers() -> list[Any]:
    return [get_response, delete_response]
