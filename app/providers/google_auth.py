"""Google service-account credentials: the OAuth 2.0 JWT-bearer token request, built without I/O.

A Vertex AI provider's `api_key` may hold a service account's JSON key file. Each access token is got by
POSTing a JWT signed with the account's private key (RS256, `iss` the account, `aud` its `token_uri`, scope
`cloud-platform`) to `token_uri`; the answer is a Bearer token good for about an hour. `UpstreamPool` sends
that request and keeps the token (`app.gateway.google_tokens`); this module only builds and reads.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
import msgspec

from app.providers.base import UpstreamRequest

__all__ = ["SCOPE", "ServiceAccount", "parse_service_account", "read_token", "token_request"]

SCOPE = "https://www.googleapis.com/auth/cloud-platform"
DEFAULT_TOKEN_URI = "https://oauth2.googleapis.com/token"
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
ASSERTION_LIFETIME_S = 3600


@dataclass(frozen=True, slots=True)
class ServiceAccount:
    """The parts of a key file the token request needs; hashable, so tokens can be kept per account."""

    client_email: str
    private_key: str = field(repr=False)
    private_key_id: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI


class _KeyFile(msgspec.Struct):
    type: str
    client_email: str
    private_key: str
    private_key_id: str | None = None
    token_uri: str = DEFAULT_TOKEN_URI


def parse_service_account(value: str) -> ServiceAccount | None:
    """A service account key file's JSON -> its account; anything not JSON (an API key, an access token) -> None.

    JSON that is not a service account key raises ValueError naming what is wrong (never the key itself), so
    the catalog can refuse it when the provider is saved.
    """
    text = value.strip()
    if not text.startswith("{"):
        return None
    try:
        doc = msgspec.json.decode(text, type=_KeyFile)
    except msgspec.DecodeError as exc:
        # msgspec names the field and the problem, never a value: safe to show.
        raise ValueError(f"not a Google service account key file: {exc}") from None
    if doc.type != "service_account":
        raise ValueError(f"not a Google service account key file: type is {doc.type[:40]!r}, not 'service_account'")
    if "PRIVATE KEY-----" not in doc.private_key:
        raise ValueError("not a Google service account key file: private_key is not a PEM key")
    if not doc.token_uri.startswith("https://") and not doc.token_uri.startswith("http://127.0.0.1"):
        raise ValueError("not a Google service account key file: token_uri must be an https URL")
    return ServiceAccount(doc.client_email, doc.private_key, doc.private_key_id, doc.token_uri)


def token_request(account: ServiceAccount, now: float | None = None) -> UpstreamRequest:
    """The POST that trades a freshly signed assertion for an access token."""
    issued = int(time.time() if now is None else now)
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": account.token_uri,
        "iat": issued,
        "exp": issued + ASSERTION_LIFETIME_S,
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    assertion = jwt.encode(claims, account.private_key, algorithm="RS256", headers=headers)
    body = urlencode({"grant_type": GRANT_TYPE, "assertion": assertion}).encode()
    form = {"content-type": "application/x-www-form-urlencoded", "accept": "application/json"}
    return UpstreamRequest("POST", account.token_uri, form, body)


def read_token(status: int, body: bytes) -> tuple[str, float]:
    """`(access_token, expires_in seconds)` from the token endpoint's answer; ValueError with its reason else."""
    try:
        doc: Any = msgspec.json.decode(body)
    except msgspec.DecodeError:
        doc = None
    if not isinstance(doc, dict):
        raise ValueError(f"Google's token endpoint answered HTTP {status} without JSON")
    token = doc.get("access_token")
    if status != 200 or not isinstance(token, str) or not token:
        reason = doc.get("error_description") or doc.get("error") or f"HTTP {status}"
        raise ValueError(f"Google's token endpoint refused the service account: {str(reason)[:200]}")
    expires = doc.get("expires_in")
    return token, float(expires) if isinstance(expires, int | float) and expires > 0 else 3600.0
