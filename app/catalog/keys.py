"""API key secrets: generation, hashing, the visible prefix."""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["KEY_PREFIX", "generate_secret", "hash_secret", "new_id", "visible_prefix"]

KEY_PREFIX = "sk-poly-"


def generate_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(30)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def visible_prefix(secret: str) -> str:
    """Enough of the secret to recognise it in a list, far too little to use it."""
    return secret[: len(KEY_PREFIX) + 6] if secret.startswith(KEY_PREFIX) else secret[:8]


def new_id(kind: str) -> str:
    return f"{kind}_{secrets.token_hex(8)}"
