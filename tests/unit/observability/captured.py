"""Process logging configured as the worker does it, into a string, and put back afterwards."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from app.observability.logging import configure_logging

__all__ = ["captured_log"]


@contextmanager
def captured_log(**kwargs: Any) -> Iterator[io.StringIO]:
    """`configure_logging("INFO", "json", **kwargs)` into a string; flushed when the block ends."""
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    out = io.StringIO()
    writer = configure_logging("INFO", "json", stream=out, **kwargs)
    try:
        yield out
    finally:
        writer.stop()
        for handler in list(root.handlers):
            root.removeHandler(handler)
        for handler in saved[0]:
            root.addHandler(handler)
        root.setLevel(saved[1])
