"""Upstream dialects as pure transforms: URLs, headers, bodies, error parsing. No I/O here."""

from __future__ import annotations

from app.providers.base import Capabilities, ProviderAdapter, UpstreamRequest
from app.providers.registry import adapter_for

__all__ = ["Capabilities", "ProviderAdapter", "UpstreamRequest", "adapter_for"]
