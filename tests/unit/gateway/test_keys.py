"""API key authentication from the snapshot: bearer and X-API-Key, expiry, rotation grace."""

from __future__ import annotations

import hashlib

import pytest

from app.catalog.specs import Limits
from app.errors import AuthenticationError
from app.gateway.keys import authenticate
from app.gateway.snapshot import CatalogSnapshot, KeyRecord


def _snapshot(expires_at: float | None = None, grace: dict[str, float] | None = None) -> CatalogSnapshot:
    record = KeyRecord("key_1", "k", "sk-poly-abc", None, None, Limits(), expires_at)
    keys = {hashlib.sha256(b"sk-poly-secret").hexdigest(): record}
    for old in grace or {}:
        keys[old] = record
    return CatalogSnapshot(1, {}, {}, {}, keys, grace or {}, {})


def test_bearer_and_x_api_key() -> None:
    snap = _snapshot()
    assert authenticate({"authorization": "Bearer sk-poly-secret"}, snap).id == "key_1"
    assert authenticate({"x-api-key": "sk-poly-secret"}, snap).id == "key_1"


@pytest.mark.parametrize(
    "headers",
    [{}, {"authorization": "Bearer "}, {"authorization": "Basic abc"}, {"authorization": "Bearer sk-poly-other"}],
)
def test_missing_or_wrong(headers: dict[str, str]) -> None:
    with pytest.raises(AuthenticationError):
        authenticate(headers, _snapshot())


def test_expired_key_says_expired() -> None:
    with pytest.raises(AuthenticationError, match="expired"):
        authenticate({"x-api-key": "sk-poly-secret"}, _snapshot(expires_at=100.0), now=200.0)
    assert authenticate({"x-api-key": "sk-poly-secret"}, _snapshot(expires_at=300.0), now=200.0)


def test_rotated_key_works_until_grace_ends() -> None:
    old = hashlib.sha256(b"sk-poly-old").hexdigest()
    snap = _snapshot(grace={old: 150.0})
    assert authenticate({"x-api-key": "sk-poly-old"}, snap, now=100.0).id == "key_1"
    with pytest.raises(AuthenticationError, match="rotated"):
        authenticate({"x-api-key": "sk-poly-old"}, snap, now=151.0)
