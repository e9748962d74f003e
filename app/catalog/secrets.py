"""Provider credentials at rest: Fernet encryption with a key from settings or the data dir."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Mapping
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken

__all__ = ["SecretBox", "mask", "mask_headers"]

_SENSITIVE_HEADER = re.compile(r"authorization|key|token|secret|cookie|password|credential", re.IGNORECASE)


def mask(secret: str) -> str:
    """A hint that identifies a credential without revealing it: `sk-...abcd`."""
    if len(secret) < 12:
        return "..." + secret[-2:]
    return f"{secret[:3]}...{secret[-4:]}"


def mask_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Extra upstream headers as they may be shown: the values of credential-like ones masked."""
    return {k: mask(str(v)) if _SENSITIVE_HEADER.search(k) else v for k, v in headers.items()}


class SecretBox:
    """Encrypts and decrypts provider API keys."""

    def __init__(self, key: bytes) -> None:
        self._fernet = Fernet(key)

    @classmethod
    def from_settings(cls, secret_key: str | None, data_dir: str) -> SecretBox:
        if secret_key:
            return cls(secret_key.encode())
        path = Path(data_dir) / "polyroute.secret"
        if not path.exists():
            _create_key_file(path)
        return cls(path.read_bytes().strip())

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode()

    def decrypt(self, token: str) -> str | None:
        """None when the token was made with another key (the operator changed POLYROUTE_SECRET_KEY)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            return None


def _create_key_file(path: Path) -> None:
    """Write a new key unless another process (a sibling worker, a replica on this data dir) wins.

    The key is written whole into a private temporary file (0600 before the bytes go in, so it is
    never readable by others) and then hard-linked into place, which fails if the name exists: every
    process ends up reading the one complete key that won, never a half-written or a different one.
    """
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(Fernet.generate_key())
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):
            os.link(tmp, path)
    finally:
        tmp.unlink()
