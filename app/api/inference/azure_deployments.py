"""`/openai/deployments/{deployment}/...`: the paths the `AzureOpenAI` client calls, so an application written for
Azure OpenAI only changes its endpoint (and key) to use the gateway.

The deployment in the path is the model (a routable name: a route, `provider/model`, or a bare model);
it wins over the body's `model`, as on Azure. `api-version` is accepted and ignored: the gateway speaks
one version of each dialect. The key may come as Azure's `api-key` header.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote

import msgspec

from app.api.asgi_io import header_dict, new_request_id, read_body, send_problem
from app.api.inference.endpoint import ASGIApp
from app.errors import GatewayError, NotFoundError
from app.gateway.tracing import trace_from_header

__all__ = ["DEPLOYMENT_SUFFIXES", "azure_deployments_app"]

DEPLOYMENT_SUFFIXES = ("/chat/completions", "/completions", "/embeddings", "/images/generations")
"""The JSON endpoints Azure serves per deployment (its audio and image edits are uploads: not here yet)."""
_MOUNT = "/openai/deployments/"


def with_model(raw: bytes, model: str) -> bytes:
    """The body naming `model`; unchanged when it already does, or when it is not a JSON object (the
    endpoint's parser then says what is wrong with it)."""
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return raw
    if not isinstance(doc, dict) or doc.get("model") == model:
        return raw
    doc["model"] = model
    return msgspec.json.encode(doc)


def _split(path: str) -> tuple[str, str] | None:
    """`/openai/deployments/{deployment}{suffix}` -> (deployment, suffix); a deployment may hold slashes."""
    rest = path.split(_MOUNT, 1)[1] if _MOUNT in path else ""
    for suffix in DEPLOYMENT_SUFFIXES:  # `/chat/completions` before `/completions`
        deployment = rest[: -len(suffix)] if rest.endswith(suffix) else ""
        if deployment and not deployment.startswith("/"):
            return unquote(deployment), suffix
    return None


async def _refuse(scope: dict[str, Any], send: Any, problem: GatewayError) -> None:
    headers = header_dict(scope)
    await send_problem(send, problem, "openai", trace_from_header(headers.get("traceparent")), new_request_id(headers))


def azure_deployments_app(apps: Mapping[str, ASGIApp], max_body_bytes: int) -> ASGIApp:
    """Dispatches to the inference app of each suffix (`apps`), with the deployment as the body's model."""

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        raw_path = (scope.get("raw_path") or scope["path"].encode()).decode("latin-1").split("?", 1)[0]
        found = _split(raw_path)
        if found is None or scope["method"] != "POST":
            endpoints = ", ".join(DEPLOYMENT_SUFFIXES)
            problem = NotFoundError(
                f"Not an Azure OpenAI deployment path: POST /openai/deployments/{{name}}{{{endpoints}}}"
            )
            await _refuse(scope, send, problem)
            return
        deployment, suffix = found
        try:
            body = with_model(await read_body(receive, header_dict(scope), max_body_bytes), deployment)
        except GatewayError as exc:  # too large: refused before the endpoint reads it
            await _refuse(scope, send, exc)
            return
        sent = False

        async def replay() -> dict[str, Any]:
            nonlocal sent
            if sent:
                return await receive()  # only a disconnect can follow the body
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await apps[suffix]({**scope, "path": "/v1" + suffix}, replay, send)

    return app
