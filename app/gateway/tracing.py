"""W3C trace context: continue an incoming `traceparent` or start a trace; request ids."""

from __future__ import annotations

import re
from dataclasses import dataclass

from app.ids import hex_id

__all__ = ["TraceContext", "trace_from_header"]

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")


@dataclass(frozen=True, slots=True)
class TraceContext:
    trace_id: str
    span_id: str
    """This gateway's span for the request."""
    parent_span_id: str | None
    flags: str = "01"

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-{self.flags}"

    def child(self) -> TraceContext:
        """A new span for one upstream attempt, in the same trace."""
        return TraceContext(self.trace_id, hex_id(64), self.span_id, self.flags)


def trace_from_header(value: str | None) -> TraceContext:
    if value:
        match = _TRACEPARENT.match(value.strip().lower())
        if match and match.group(2) != "0" * 32 and match.group(3) != "0" * 16 and match.group(1) != "ff":
            return TraceContext(match.group(2), hex_id(64), match.group(3), match.group(4))
    return TraceContext(hex_id(128), hex_id(64), None)
