"""JWTs for admin and user accounts: signed with a key derived from the secret key, short-lived."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from app.api.auth import TokenCodec, signing_key
from app.catalog.services.records import User
from app.errors import AuthenticationError
from app.settings import Settings

USER = User(
    id="user_1",
    username="ann",
    role="user",
    plan="free",
    disabled=False,
    created_at=datetime.now(UTC),
    updated_at=datetime.now(UTC),
)


def test_round_trip_and_expiry() -> None:
    codec = TokenCodec(b"k" * 32, ttl_s=60)
    assert codec.subject(codec.issue(USER)) == "user_1"
    stale = codec.issue(USER, now=time.time() - 120)
    with pytest.raises(AuthenticationError, match="expired"):
        codec.subject(stale)


def test_other_keys_and_garbage_are_rejected() -> None:
    token = TokenCodec(b"a" * 32, ttl_s=60).issue(USER)
    with pytest.raises(AuthenticationError, match="Invalid token"):
        TokenCodec(b"b" * 32, ttl_s=60).subject(token)
    with pytest.raises(AuthenticationError):
        TokenCodec(b"a" * 32, ttl_s=60).subject("a.b.c")


def test_signing_key_follows_the_secret_key(tmp_path: Path) -> None:
    from_env = signing_key(Settings(secret_key="x" * 44, data_dir=str(tmp_path)))
    assert from_env == signing_key(Settings(secret_key="x" * 44, data_dir=str(tmp_path / "other")))
    assert from_env != signing_key(Settings(secret_key="y" * 44, data_dir=str(tmp_path)))
    generated = signing_key(Settings(data_dir=str(tmp_path)))
    assert (tmp_path / "polyroute.secret").exists()
    assert generated == signing_key(Settings(data_dir=str(tmp_path)))
    assert len(generated) == 32
