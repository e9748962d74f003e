"""Secrets are checked in constant time: API keys by SHA-256 digest lookup, everything else with hmac.compare_digest.

`compared` wraps `hmac.compare_digest` (modules call it as `hmac.compare_digest`, so the wrapper sees
every call) and records its arguments: a check that fell back to `==` records nothing and fails here.
Key tables record every key they are asked for: a lookup by anything but the digest fails here.
No timing is measured; these tests pin the mechanism, which cannot be flaky.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Callable
from types import SimpleNamespace
from typing import Any

import pytest

from app.api.auth import ManagementAuth, TokenCodec
from app.api.metrics import _authorized
from app.catalog.keys import hash_secret
from app.catalog.specs import Limits
from app.errors import AuthenticationError, PermissionDeniedError
from app.gateway.keys import authenticate
from app.gateway.snapshot import CatalogSnapshot, KeyRecord
from app.tasks.webhooks import verify
from app.ui_support.session import SessionCodec

ADMIN_KEY = "pr-admin-constant-time-0123456789abcdef"
SECRET = "sk-poly-constant-time-0123456789abcdefghij"
NEAR_MISS = SECRET[:-1] + "k"
"""The real key with only its last character changed: a character-by-character compare would get furthest."""


class RecordingKeys(dict[str, KeyRecord]):
    """The snapshot's key table, remembering every key it was asked for."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.asked: list[str] = []

    def get(self, key: str, default: Any = None) -> Any:
        self.asked.append(key)
        return super().get(key, default)

    def __contains__(self, key: object) -> bool:
        self.asked.append(str(key))
        return super().__contains__(key)

    def __getitem__(self, key: str) -> KeyRecord:
        self.asked.append(key)
        return super().__getitem__(key)


@pytest.fixture
def compared(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Any, Any]]:
    calls: list[tuple[Any, Any]] = []
    real: Callable[[Any, Any], bool] = hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return real(a, b)

    monkeypatch.setattr(hmac, "compare_digest", spy)
    return calls


def _snapshot() -> tuple[CatalogSnapshot, RecordingKeys]:
    record = KeyRecord("key_ct", "ct", SECRET[:14], None, None, Limits(), None)
    keys = RecordingKeys({hash_secret(SECRET): record})
    return CatalogSnapshot(1, {}, {}, {}, keys, {}, {}), keys


def _auth(snapshot: CatalogSnapshot) -> ManagementAuth:
    # ManagementAuth reads only `.snapshot` of the catalog cache.
    return ManagementAuth(ADMIN_KEY, TokenCodec(b"k" * 32, 60), SimpleNamespace(snapshot=snapshot))  # type: ignore[arg-type]


def _is_digest(value: str) -> bool:
    return len(value) == 64 and all(c in "0123456789abcdef" for c in value)


def test_inference_keys_are_looked_up_by_digest_never_by_the_secret() -> None:
    snapshot, keys = _snapshot()
    assert authenticate({"authorization": f"Bearer {SECRET}"}, snapshot).id == "key_ct"
    assert keys.asked == [hash_secret(SECRET)]

    keys.asked.clear()
    with pytest.raises(AuthenticationError, match="Invalid API key"):
        authenticate({"x-api-key": NEAR_MISS}, snapshot)
    # The near miss is looked up by its own digest, which shares no prefix with the real key's digest,
    # so how far a lookup gets says nothing about how many leading characters of the key were right.
    assert keys.asked == [hashlib.sha256(NEAR_MISS.encode()).hexdigest()]
    assert keys.asked[0][:8] != hash_secret(SECRET)[:8]
    assert all(_is_digest(k) for k in keys.asked)
    assert all(SECRET not in k and NEAR_MISS not in k for k in keys.asked)


async def test_admin_key_is_compared_with_compare_digest(compared: list[tuple[Any, Any]]) -> None:
    snapshot, _ = _snapshot()
    auth = _auth(snapshot)
    principal = await auth.principal({"authorization": f"Bearer {ADMIN_KEY}"})
    assert principal.is_admin
    assert compared == [(ADMIN_KEY.encode(), ADMIN_KEY.encode())]

    compared.clear()
    with pytest.raises(AuthenticationError):
        await auth.principal({"authorization": f"Bearer {ADMIN_KEY[:-1]}X"})
    assert compared == [(f"{ADMIN_KEY[:-1]}X".encode(), ADMIN_KEY.encode())]


async def test_inference_keys_on_the_management_api_are_recognised_by_digest(
    compared: list[tuple[Any, Any]],
) -> None:
    snapshot, keys = _snapshot()
    with pytest.raises(PermissionDeniedError):
        await _auth(snapshot).principal({"authorization": f"Bearer {SECRET}"})
    assert compared == [(SECRET.encode(), ADMIN_KEY.encode())]  # tried as the admin key first, in constant time
    assert keys.asked == [hash_secret(SECRET)]


def test_ui_admin_key_login_compares_keyed_fingerprints(compared: list[tuple[Any, Any]]) -> None:
    codec = SessionCodec(b"s" * 32, 60, ADMIN_KEY)
    assert codec.admin_key_matches(ADMIN_KEY)
    assert not codec.admin_key_matches(ADMIN_KEY[:-1] + "X")
    assert len(compared) == 2
    for presented, expected in compared:
        assert ADMIN_KEY[:-1] not in presented and ADMIN_KEY[:-1] not in expected  # HMACs, not the key
    assert compared[0][0] == compared[0][1]
    assert compared[1][0] != compared[1][1]


def test_metrics_token_is_compared_with_compare_digest(compared: list[tuple[Any, Any]]) -> None:
    assert _authorized("Bearer metrics-token-123", "metrics-token-123")
    assert not _authorized("Bearer metrics-token-124", "metrics-token-123")
    assert compared == [(b"metrics-token-123", b"metrics-token-123"), (b"metrics-token-124", b"metrics-token-123")]


def test_webhook_signatures_are_compared_with_compare_digest(compared: list[tuple[Any, Any]]) -> None:
    now = time.time()
    stamp = int(now)
    good = hmac.new(b"hook-secret", f"{stamp}.".encode() + b"{}", hashlib.sha256).hexdigest()
    assert verify(b"hook-secret", f"t={stamp},v1={good}", b"{}", now=now)
    bad = good[:-1] + ("0" if good[-1] != "0" else "1")
    assert not verify(b"hook-secret", f"t={stamp},v1={bad}", b"{}", now=now)
    assert [pair[1] for pair in compared] == [good.encode(), bad.encode()]  # bytes: a non-ASCII forgery cannot raise
