"""Catalog entries for unit tests that need a provider without a database or a config file."""

from __future__ import annotations

from typing import Any

from app.gateway.snapshot import ProviderEntry

__all__ = ["provider_entry"]


def provider_entry(**fields: Any) -> ProviderEntry:
    """A provider as the catalog snapshot holds it: enabled, no credential, no models, no extra
    headers, 5 s timeout, unless `fields` say otherwise."""
    defaults: dict[str, Any] = {
        "id": "p1",
        "name": "p",
        "kind": "openai",
        "base_url": "http://127.0.0.1:9/v1",
        "api_key": None,
        "enabled": True,
        "timeout_s": 5.0,
        "first_token_timeout_s": None,
        "stall_timeout_s": None,
        "models": {},
        "headers": {},
    }
    return ProviderEntry(**{**defaults, **fields})
