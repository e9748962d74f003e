"""Every inference path, one table: the README lists it from here."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.api.inference.audio import (
    parse_image_edit,
    parse_image_variation,
    parse_speech,
    parse_transcription,
    parse_translation,
    upload_handler,
)
from app.api.inference.chat import parse_chat
from app.api.inference.completions import parse_completions
from app.api.inference.embeddings import parse_embeddings, parse_images, parse_moderations, parse_rerank
from app.api.inference.messages import parse_messages
from app.api.inference.responses import parse_responses, responses_handler
from app.api.problem import Dialect
from app.gateway.call import Call, Parsed, Reply

__all__ = ["AUDIO_ROUTES", "INFERENCE_ROUTES", "PREFIXES", "InferenceRoute"]

PREFIXES = ("/v1", "/openai/v1", "/api/v1")
"""Every OpenAI-style path is served under each of these prefixes."""


@dataclass(frozen=True, slots=True)
class InferenceRoute:
    endpoint: str
    dialect: Dialect
    suffix: str
    parse: Callable[[bytes], Parsed]
    handler: Callable[[Any], Callable[[Call], Awaitable[Reply]]] | None = None
    """Wraps the pipeline for endpoints that need more than one pass (the gateway-run web search)."""
    also: tuple[str, ...] = ()
    """Paths outside the prefixes, where another vendor's SDK looks (Cohere's `/v2/rerank`)."""

    @property
    def paths(self) -> tuple[str, ...]:
        return tuple(prefix + self.suffix for prefix in PREFIXES) + self.also


INFERENCE_ROUTES: tuple[InferenceRoute, ...] = (
    InferenceRoute("chat.completions", "openai", "/chat/completions", parse_chat),
    InferenceRoute("completions", "openai", "/completions", parse_completions),
    InferenceRoute("messages", "anthropic", "/messages", parse_messages),
    InferenceRoute("responses", "openai", "/responses", parse_responses, responses_handler),
    InferenceRoute("embeddings", "openai", "/embeddings", parse_embeddings),
    InferenceRoute("images.generations", "openai", "/images/generations", parse_images),
    InferenceRoute("rerank", "openai", "/rerank", parse_rerank, also=("/v2/rerank", "/rerank")),
    InferenceRoute("moderations", "openai", "/moderations", parse_moderations),
)

AUDIO_ROUTES: tuple[InferenceRoute, ...] = (
    InferenceRoute("audio.speech", "openai", "/audio/speech", parse_speech),
    InferenceRoute(
        "audio.transcriptions",
        "openai",
        "/audio/transcriptions",
        parse_transcription,
        upload_handler(parse_transcription),
    ),
    InferenceRoute(
        "audio.translations", "openai", "/audio/translations", parse_translation, upload_handler(parse_translation)
    ),
    InferenceRoute("images.edits", "openai", "/images/edits", parse_image_edit, upload_handler(parse_image_edit)),
    InferenceRoute(
        "images.variations",
        "openai",
        "/images/variations",
        parse_image_variation,
        upload_handler(parse_image_variation),
    ),
)
"""Served like the routes above, but not as tasks or batch lines: their bodies are uploads (and the
audio answers binary)."""
