"""OpenAI Responses: the fields the gateway reads. Everything else passes through untouched."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from msgspec import Meta

__all__ = ["ResponsesEnvelope"]


class ResponsesEnvelope(msgspec.Struct):
    """Validated view of a Responses request; the raw dict is what gets forwarded."""

    model: Annotated[str, Meta(min_length=1)]
    input: str | list[dict[str, Any]] | None = None
    instructions: str | None = None
    stream: bool | None = False
    store: bool | None = True
    previous_response_id: str | None = None
    max_output_tokens: Annotated[int, Meta(ge=1)] | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    tools: list[dict[str, Any]] | None = None
    metadata: dict[str, str] | None = None
