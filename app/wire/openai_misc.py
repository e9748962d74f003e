"""OpenAI embeddings, image generation and legacy completions: the fields the gateway reads."""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta

from app.wire.openai_chat import StreamOptions

__all__ = [
    "CompletionsEnvelope",
    "EmbeddingsEnvelope",
    "ImagesEnvelope",
    "ModerationsEnvelope",
    "RerankEnvelope",
    "prompt_kind",
]


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


class ModerationsEnvelope(msgspec.Struct):
    """`POST /v1/moderations`; `model` is optional at OpenAI, required here: it picks the provider."""

    model: Annotated[str, Meta(min_length=1)]
    input: str | Annotated[list[str | dict[str, Any]], Meta(min_length=1)]


class RerankEnvelope(msgspec.Struct):
    """`POST /v1/rerank` in the shape Cohere, Jina, vLLM, llama.cpp and Together share."""

    model: Annotated[str, Meta(min_length=1)]
    query: Annotated[str, Meta(min_length=1)]
    documents: Annotated[list[str | dict[str, Any]], Meta(min_length=1)]
    """Strings, or objects as the upstream takes them ({"text": ...}; vLLM's multimodal parts)."""
    top_n: Annotated[int, Meta(ge=1)] | None = None
    return_documents: bool | None = None


class CompletionsEnvelope(msgspec.Struct):
    """`POST /v1/completions`; `prompt` is a string, a list of strings, a list of token ids or a list of
    such lists (checked by `prompt_kind`, since msgspec takes one list type per union)."""

    model: Annotated[str, Meta(min_length=1)]
    prompt: str | Annotated[list[Any], Meta(min_length=1)]
    stream: bool | None = False
    stream_options: StreamOptions | None = None
    max_tokens: Annotated[int, Meta(ge=0)] | None = None
    n: Annotated[int, Meta(ge=1, le=128)] | None = None
    best_of: Annotated[int, Meta(ge=0, le=20)] | None = None
    logprobs: Annotated[int, Meta(ge=0, le=5)] | None = None
    echo: bool | None = None
    suffix: str | None = None
    temperature: Annotated[float, Meta(ge=0, le=2)] | None = None
    top_p: Annotated[float, Meta(ge=0, le=1)] | None = None
    stop: str | list[str] | None = None


def prompt_kind(prompt: str | list[Any]) -> str | None:
    """ "text", "texts", "tokens" or "token lists"; None when the list mixes kinds or holds anything else."""
    if isinstance(prompt, str):
        return "text"
    if all(isinstance(p, str) for p in prompt):
        return "texts"
    if all(_token(p) for p in prompt):
        return "tokens"
    if all(isinstance(p, list) and p and all(_token(t) for t in p) for p in prompt):
        return "token lists"
    return None


def _token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
