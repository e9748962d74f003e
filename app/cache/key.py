"""The cache key: a stable hash of the normalised request, scoped to its owner.

Normalising drops what cannot change the answer (`stream`, `stream_options`, `user`, `metadata`,
`store`, `safety_identifier`, `prompt_cache_key`, the caller's spelling of `model`) and top-level
nulls, turns integral floats into ints (`1.0` and `1` ask the same), and encodes with sorted keys,
so field order never matters. Everything else, unknown fields included, is part of the key: a
false miss costs one upstream call, a false hit serves the wrong answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

import msgspec

__all__ = ["IGNORED_FIELDS", "cache_key", "normalise"]

IGNORED_FIELDS = frozenset(
    {"model", "stream", "stream_options", "user", "metadata", "store", "safety_identifier", "prompt_cache_key"}
)
VERSION = b"polyroute-cache-1"
"""Bump when the entry format or the normalisation changes: old entries then simply miss."""


def _canonical(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
        return int(value)
    if isinstance(value, dict):
        return {k: _canonical(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_canonical(v) for v in value]
    return value


def normalise(body: Mapping[str, Any]) -> dict[str, Any]:
    """The part of a request body that decides its answer, in canonical form."""
    return {k: _canonical(v) for k, v in body.items() if k not in IGNORED_FIELDS and v is not None}


def cache_key(
    *, endpoint: str, model: str, stream: bool, scope: str, body: Mapping[str, Any], extra: Any = None
) -> str:
    """Hex SHA-256 over the endpoint, the resolved model name, the mode (stream or whole), the scope and the body.

    `extra` folds in anything else that shaped the request (a hook's rewrite, say).
    """
    material = [endpoint, model, "stream" if stream else "whole", scope, normalise(body), _canonical(extra)]
    digest = hashlib.sha256(VERSION)
    digest.update(msgspec.json.encode(material, order="sorted"))
    return digest.hexdigest()
