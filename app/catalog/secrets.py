"""Provider credentials at rest: Fernet encryption with a key from settings or the data dir."""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SecretBox", "mask"]


def mask(secret: str) -> str:
    """A hint that identifies a credential without revealing it: `sk-...abcd`."""
    if len(secret) < 12:
        return "..." + secret[-2:]
    return f"{secret[:3]}...{secret[-4:]}"


class SecretBox:
    """Encrypts and decrypts provider API keys."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: str) -> SecretBox:
        if secret_key:
            return cls(secret_key.encode())
        path = Path(data_dir) / "polyroute.secret"
        if path.exists():
            return cls(path.read_bytes().strip())
        key = Fernet.generate_key()
        # Written 0600 before the bytes go in, so the key is never readable by others.
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
        return cls(key)

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another key (the operator changed POLYROUTE_SECRET_KEY)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None
