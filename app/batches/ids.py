"""Object ids that sort by creation time, so list pages and cursors order by the primary key."""

from __future__ import annotations

import os
import time

__all__ = ["new_id"]

_last_us = 0


def new_id(prefix: str) -> str:
    """`prefix` + microseconds (hex, fixed width, strictly increasing in a process) + randomness."""
    global _last_us
    _last_us = max(time.time_ns() // 1000, _last_us + 1)
    return f"{prefix}{_last_us:014x}{os.urandom(5).hex()}"
