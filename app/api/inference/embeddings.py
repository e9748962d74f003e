"""POST /v1/embeddings, /v1/images/generations, /v1/rerank and /v1/moderations through the router (OpenAI dialect)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from app.api.decode import decode_json_object, validate_envelope
from app.errors import UnsupportedFeatureError
from app.gateway.call import Parsed
from app.gateway.endpoints import GeminiEmbeddings, OpenAIEndpoint, VertexEmbeddings
from app.gateway.exchange import Exchange
from app.providers.base import Capabilities, ProviderAdapter
from app.providers.vertex import VertexGeminiAdapter
from app.wire.openai_misc import EmbeddingsEnvelope, ImagesEnvelope, ModerationsEnvelope, RerankEnvelope

__all__ = ["parse_embeddings", "parse_images", "parse_moderations", "parse_rerank"]


def parse_embeddings(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, EmbeddingsEnvelope)

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not adapter.capabilities.embeddings:
            raise UnsupportedFeatureError(f"Embeddings are not supported by {adapter.kind} upstreams")
        if isinstance(adapter, VertexGeminiAdapter):
            return VertexEmbeddings(body)
        if adapter.dialect == "gemini":
            return GeminiEmbeddings(body)
        return OpenAIEndpoint(body, "/embeddings", "Embeddings")

    return Parsed(model=envelope.model, stream=False, body=body, exchanges=exchange_for)


def _passthrough(
    body: dict[str, Any], model: str, path: str, what: str, supported: Callable[[Capabilities], bool]
) -> Parsed:
    """An OpenAI-shaped endpoint passed to the providers whose adapter is `supported`; 400 elsewhere."""

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not supported(adapter.capabilities):
            raise UnsupportedFeatureError(f"{what} is not supported by {adapter.kind} upstreams")
        return OpenAIEndpoint(body, path, what)

    return Parsed(model=model, stream=False, body=body, exchanges=exchange_for)


def parse_images(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ImagesEnvelope)
    if envelope.stream:
        raise UnsupportedFeatureError("Streaming image generation is not supported", param="stream")
    return _passthrough(body, envelope.model, "/images/generations", "Image generation", lambda c: c.images)


def parse_rerank(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    # Documents pass as they are: strings, Jina's and Cohere v1's {"text": ...}, vLLM's multimodal objects.
    envelope = validate_envelope(body, RerankEnvelope)
    return _passthrough(body, envelope.model, "/rerank", "Rerank", lambda c: c.rerank)


def parse_moderations(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ModerationsEnvelope)
    return _passthrough(body, envelope.model, "/moderations", "Moderation", lambda c: c.moderations)
