"""Authenticate an inference call against the in-memory key table (never the database)."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping

from app.errors import AuthenticationError
from app.gateway.snapshot import CatalogSnapshot, KeyRecord

__all__ = ["authenticate", "presented_key"]


def presented_key(headers: Mapping[str, str]) -> str | None:
    """`Authorization: Bearer <key>` or `X-API-Key` (also Anthropic's `x-api-key`, Gemini's `x-goog-api-key`,
    Azure OpenAI's `api-key`)."""
    auth = headers.get("authorization")
    if auth:
        scheme, _, token = auth.partition(" ")
        if scheme.lower() == "bearer" and token.strip():
            return token.strip()
    for name in ("x-api-key", "x-goog-api-key", "api-key"):
        value = headers.get(name)
        if value:
            return value.strip()
    return None


def authenticate(headers: Mapping[str, str], snapshot: CatalogSnapshot, now: float | None = None) -> KeyRecord:
    secret = presented_key(headers)
    if not secret:
        raise AuthenticationError("Missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'")
    digest = hashlib.sha256(secret.encode()).hexdigest()
    # The lookup is keyed by the SHA-256 of the secret, so its timing says nothing about the
    # secret itself: an attacker cannot steer a digest prefix by choosing the key.
    record = snapshot.keys.get(digest)
    if record is None:
        raise AuthenticationError("Invalid API key")
    moment = time.time() if now is None else now
    if record.expires_at is not None and moment >= record.expires_at:
        raise AuthenticationError("API key expired")
    grace_end = snapshot.key_valid_until.get(digest)
    if grace_end is not None and moment >= grace_end:
        raise AuthenticationError("API key was rotated and its grace period is over")
    return record
