"""The routing simulator's engine, importable by scripts/simulate.py and the property tests."""

from __future__ import annotations

__all__: list[str] = []
