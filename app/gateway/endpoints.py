"""Whole-answer OpenAI endpoints (embeddings, images) as exchanges: passthrough, or Gemini embeddings."""

from __future__ import annotations

from typing import Any

import msgspec

from app.accounting.events import Usage
from app.accounting.tokens import count_tokens
from app.errors import UnsupportedFeatureError
from app.gateway.bridges.upstream import decode_reply
from app.gateway.chat_passthrough import count_field
from app.gateway.exchange import Served, StreamRelay
from app.gateway.snapshot import ProviderEntry
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.gemini import GeminiAdapter
from app.providers.openai import OpenAIAdapter
from app.translate.gemini.embeddings import (
    chat_embeddings_to_gemini,
    chat_embeddings_to_vertex,
    gemini_embeddings_to_openai,
    vertex_embeddings_to_openai,
)

__all__ = ["GeminiEmbeddings", "OpenAIEndpoint", "images_usage", "input_tokens", "pending_reply", "rerank_usage"]

Json = dict[str, Any]
_encode = msgspec.json.encode


def input_tokens(value: Any) -> int:
    if isinstance(value, str):
        return count_tokens(value)
    if isinstance(value, list):
        return sum(input_tokens(v) if isinstance(v, str | list) else 1 for v in value)
    return 0


def images_usage(doc: Json) -> Usage:
    """gpt-image models report tokens; older image models report nothing (priced per image instead)."""
    raw = doc.get("usage")
    images = len(doc.get("data") or [])
    if not isinstance(raw, dict):
        return Usage(images=images)
    return Usage(
        prompt_tokens=int(raw.get("input_tokens") or 0),
        completion_tokens=int(raw.get("output_tokens") or 0),
        images=images,
    )


def rerank_usage(doc: Json) -> Usage:
    """The tokens a rerank reports (`usage.total_tokens` or `prompt_tokens`: Jina, vLLM, Together;
    Cohere's `meta.billed_units.input_tokens`); Cohere's search units report none, so
    `cost_per_request` prices them."""
    raw = doc.get("usage")
    if isinstance(raw, dict):
        return Usage(prompt_tokens=count_field(raw, "total_tokens") or count_field(raw, "prompt_tokens"))
    meta = doc.get("meta")
    billed = meta.get("billed_units") if isinstance(meta, dict) else None
    return Usage(prompt_tokens=count_field(billed, "input_tokens"))


_POLL_HEADERS = ("location", "operation-location")
_POLL_FIELDS = ("status_url", "polling_url", "poll_url", "urls")


def pending_reply(raw: bytes, headers: Any) -> bytes:
    """A 202 job document that names where to poll, as the task worker needs it.

    Many asynchronous APIs say so only in a `Location` header, which does not survive the trip
    through the pipeline, so it is copied into the body as `status_url` when the body has none.
    """
    try:
        doc = msgspec.json.decode(raw)
    except (msgspec.DecodeError, UnicodeDecodeError):
        return raw
    if not isinstance(doc, dict) or any(field in doc for field in _POLL_FIELDS):
        return raw
    lowered = {str(k).lower(): v for k, v in headers.items()}
    url = next((lowered[h] for h in _POLL_HEADERS if lowered.get(h)), None)
    if url is None:
        return raw
    doc["status_url"] = url
    doc.setdefault("status", "queued")  # a 202 is pending even when the body does not say so
    return _encode(doc)


class _WholeOnly:
    def stream(self, served: Served) -> StreamRelay:
        raise UnsupportedFeatureError("This endpoint does not stream")


class OpenAIEndpoint(_WholeOnly):
    """Pass an OpenAI-shaped JSON endpoint through; only `model` is rewritten both ways."""

    upstream_dialect = "chat"
    accepts_pending = True
    """An upstream's 202 job document is the answer (async image APIs); tasks poll it."""

    def __init__(self, body: Json, path: str, what: str) -> None:
        self._body = body
        self._path = path
        self._what = what

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return _encode({**self._body, "model": model})

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        if not isinstance(adapter, OpenAIAdapter):
            raise UnsupportedFeatureError(f"{self._what} is not supported by {adapter.kind} upstream '{provider.name}'")
        return adapter.endpoint(provider, self._path, self.upstream_body(provider, model, stream), model)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        doc = decode_reply(body)
        if "model" in doc or self._path == "/embeddings":
            doc["model"] = served.public_model
        if self._path == "/embeddings":
            raw = doc.get("usage") or {}
            usage = Usage(prompt_tokens=int(raw.get("prompt_tokens") or 0)) if isinstance(raw, dict) else Usage()
        elif self._path == "/rerank":
            usage = rerank_usage(doc)
        elif self._path == "/moderations":
            usage = Usage()  # free at OpenAI; `cost_per_request` prices it elsewhere
        else:
            usage = images_usage(doc)
        return _encode(doc), usage


class GeminiEmbeddings(_WholeOnly):
    upstream_dialect = "gemini"

    def __init__(self, body: Json) -> None:
        self._body = body
        self._tokens = input_tokens(body.get("input"))

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return _encode(chat_embeddings_to_gemini(self._body, model))

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        assert isinstance(adapter, GeminiAdapter)
        return adapter.embed(provider, model, self.upstream_body(provider, model, stream))

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        doc = gemini_embeddings_to_openai(
            decode_reply(body),
            served.public_model,
            self._tokens,
            encoding_format=str(self._body.get("encoding_format") or "float"),
        )
        return _encode(doc), Usage(prompt_tokens=self._tokens, estimated=True)


class VertexEmbeddings(GeminiEmbeddings):
    """Gemini embedding models on Vertex AI: `:predict` with one instance per text; Vertex counts the tokens."""

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return _encode(chat_embeddings_to_vertex(self._body))

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        doc, counted = vertex_embeddings_to_openai(
            decode_reply(body),
            served.public_model,
            self._tokens,
            encoding_format=str(self._body.get("encoding_format") or "float"),
        )
        return _encode(doc), Usage(
            prompt_tokens=counted if counted is not None else self._tokens, estimated=counted is None
        )
