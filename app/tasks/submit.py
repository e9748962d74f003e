"""What a task submission must pass before it is queued, so a bad one fails at once, synchronously."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from app.accounting.attribution import END_USER_HEADER, TAGS_HEADER, header_labels
from app.catalog.services.providers import host_allowed
from app.errors import InvalidRequestError
from app.gateway.resolve import resolve
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.tasks.execute import EndpointSpec

__all__ = ["KEPT_HEADERS", "check_body", "check_webhook_url", "kept_headers", "wants_async"]

KEPT_HEADERS = ("traceparent", "anthropic-version", "anthropic-beta", "openai-beta", END_USER_HEADER, TAGS_HEADER)
"""Request headers a task keeps for its run (its usage is attributed as a direct call's); credentials
never reach the database."""

_MAX_URL = 1000


def wants_async(prefer: str | None) -> bool:
    """True when an RFC 7240 `Prefer` header asks for `respond-async`."""
    if not prefer:
        return False
    for preference in prefer.split(","):
        token = preference.split(";", 1)[0].split("=", 1)[0].strip().lower()
        if token == "respond-async":
            return True
    return False


def kept_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The headers to keep; a malformed end-user or tags header is a 400 now, not a failed task later."""
    header_labels(headers)
    return {name: headers[name] for name in KEPT_HEADERS if headers.get(name)}


def check_body(spec: EndpointSpec, raw: bytes, key: KeyRecord, snapshot: CatalogSnapshot) -> dict[str, Any]:
    """The endpoint's own decoder and the model check (400/403 now rather than a failed task later); the body."""
    parsed = spec.parse(raw)
    resolve(parsed.model, snapshot, key)
    return parsed.body


def check_webhook_url(url: str, allowed_hosts: Sequence[str]) -> str:
    if len(url) > _MAX_URL:
        raise InvalidRequestError(f"webhook_url is longer than {_MAX_URL} characters", param="webhook_url")
    try:
        parts = urlsplit(url)
        host, _ = parts.hostname, parts.port
    except ValueError:
        raise InvalidRequestError("webhook_url is not a valid URL", param="webhook_url") from None
    if parts.scheme not in {"http", "https"} or not host:
        raise InvalidRequestError("webhook_url must be an absolute http(s) URL", param="webhook_url")
    if allowed_hosts and not host_allowed(host, allowed_hosts):
        raise InvalidRequestError(
            f"webhook_url host '{host}' is not allowed (POLYROUTE_WEBHOOK_ALLOWED_HOSTS)", param="webhook_url"
        )
    return url
