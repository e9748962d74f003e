"""POST /v1/embeddings, /v1/images/generations, /v1/rerank and /v1/moderations through the router (OpenAI dialect)."""

from __future__ import annotations

from app.api.decode import decode_json_object, validate_envelope
from app.errors import UnsupportedFeatureError
from app.gateway.call import Parsed
from app.gateway.endpoints import GeminiEmbeddings, OpenAIEndpoint
from app.gateway.exchange import Exchange
from app.providers.base import ProviderAdapter
from app.wire.openai_misc import EmbeddingsEnvelope, ImagesEnvelope, ModerationsEnvelope, RerankEnvelope

__all__ = ["parse_embeddings", "parse_images", "parse_moderations", "parse_rerank"]


def parse_embeddings(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, EmbeddingsEnvelope)

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if adapter.dialect == "gemini":
            return GeminiEmbeddings(body)
        if not adapter.capabilities.embeddings:
            raise UnsupportedFeatureError(f"Embeddings are not supported by {adapter.kind} upstreams")
        return OpenAIEndpoint(body, "/embeddings", "Embeddings")

    return Parsed(model=envelope.model, stream=False, body=body, exchanges=exchange_for)


def parse_images(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ImagesEnvelope)
    if envelope.stream:
        raise UnsupportedFeatureError("Streaming image generation is not supported", param="stream")

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not adapter.capabilities.images:
            raise UnsupportedFeatureError(f"Image generation is not supported by {adapter.kind} upstreams")
        return OpenAIEndpoint(body, "/images/generations", "Image generation")

    return Parsed(model=envelope.model, stream=False, body=body, exchanges=exchange_for)


def parse_rerank(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    # Documents pass as they are: strings, Jina's and Cohere v1's {"text": ...}, vLLM's multimodal objects.
    envelope = validate_envelope(body, RerankEnvelope)

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not adapter.capabilities.rerank:
            raise UnsupportedFeatureError(f"Rerank is not supported by {adapter.kind} upstreams")
        return OpenAIEndpoint(body, "/rerank", "Rerank")

    return Parsed(model=envelope.model, stream=False, body=body, exchanges=exchange_for)


def parse_moderations(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ModerationsEnvelope)

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not adapter.capabilities.moderations:
            raise UnsupportedFeatureError(f"Moderation is not supported by {adapter.kind} upstreams")
        return OpenAIEndpoint(body, "/moderations", "Moderation")

    return Parsed(model=envelope.model, stream=False, body=body, exchanges=exchange_for)
