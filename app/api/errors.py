"""Litestar exception handlers: every error leaves as problem+json, never a bare 500."""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from app.api.problem import Dialect, problem_body, problem_headers
from app.errors import (
    AuthenticationError,
    GatewayError,
    InternalError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ValidationFailedError,
)
from app.gateway.tracing import trace_from_header

__all__ = ["exception_handlers", "problem_response"]

log = logging.getLogger("polyroute.api")

_BY_STATUS: dict[int, type[GatewayError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    405: MethodNotAllowedError,
    413: PayloadTooLargeError,
    422: ValidationFailedError,
}


_ANTHROPIC_PATHS = ("/messages", "/messages/count_tokens")


def problem_response(request: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    # The Anthropic SDK always sends anthropic-version: it gets its own error shape on shared paths (/v1/models).
    path = request.url.path
    anthropic = path.endswith(_ANTHROPIC_PATHS) or "/messages/batches" in path or "anthropic-version" in request.headers
    dialect: Dialect = "anthropic" if anthropic else "openai"
    trace = trace_from_header(request.headers.get("traceparent"))
    headers = {k.decode(): v.decode() for k, v in problem_headers(exc)}
    headers["traceparent"] = trace.traceparent
    return Response(
        content=problem_body(exc, dialect, trace.trace_id),
        status_code=exc.status_code,
        headers=headers,
        media_type="application/problem+json",
    )


def _gateway_error(request: Request[Any, Any, Any], exc: GatewayError) -> Response[bytes]:
    return problem_response(request, exc)


def _validation_error(request: Request[Any, Any, Any], exc: ValidationException) -> Response[bytes]:
    raw = [e for e in exc.extra if isinstance(e, dict)] if isinstance(exc.extra, list) else []
    if any(e.get("source") == "body" and e.get("key") == "data" for e in raw):
        # Litestar reports an empty body as a missing `data` argument.
        return problem_response(request, InvalidRequestError("Request body is empty; expected a JSON object"))
    errors = [{"field": str(e.get("key", "?")), "message": str(e.get("message", ""))} for e in raw]
    fields = [f"{e['field']}: {e['message']}" for e in errors]
    detail = exc.detail if not fields else "Invalid request: " + "; ".join(fields)
    problem = ValidationFailedError(detail, extra={"errors": errors}) if fields else InvalidRequestError(detail)
    if "JSON" in exc.detail or "decode" in exc.detail.lower():
        problem = InvalidRequestError(f"Request body is not valid JSON: {exc.detail}")
    return problem_response(request, problem)


def _http_error(request: Request[Any, Any, Any], exc: HTTPException) -> Response[bytes]:
    kind = _BY_STATUS.get(exc.status_code)
    if kind is None:
        problem: GatewayError = InternalError(exc.detail)
    else:
        problem = kind(exc.detail)
    return problem_response(request, problem)


def _unexpected(request: Request[Any, Any, Any], exc: Exception) -> Response[bytes]:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return problem_response(request, InternalError("The gateway hit an unexpected error; it has been logged"))


def exception_handlers() -> dict[Any, Any]:
    return {
        GatewayError: _gateway_error,
        ValidationException: _validation_error,
        HTTPException: _http_error,
        Exception: _unexpected,
    }
