"""OpenAI embeddings and image generation: the fields the gateway reads."""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from msgspec import Meta

__all__ = ["EmbeddingsEnvelope", "ImagesEnvelope"]


class EmbeddingsEnvelope(msgspec.Struct):
    model: Annotated[str, Meta(min_length=1)]
    input: str | list[str | int | list[int]]
    encoding_format: Literal["float", "base64"] | None = None
    dimensions: Annotated[int, Meta(ge=1)] | None = None


class ImagesEnvelope(msgspec.Struct):
    model: Annotated[str, Meta(min_length=1)]
    prompt: Annotated[str, Meta(min_length=1)]
    n: Annotated[int, Meta(ge=1, le=10)] | None = None
    size: str | None = None
    stream: bool | None = False
