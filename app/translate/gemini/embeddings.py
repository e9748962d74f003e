"""OpenAI /v1/embeddings on a Gemini upstream: requests and responses.

Embeddings go to batchEmbedContents, one request per input string; token-array inputs are
unsupported; base64 output is encoded here (float32, little-endian, as OpenAI does).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from app.translate.gemini.request import invalid, unsupported

__all__ = [
    "chat_embeddings_to_gemini",
    "chat_embeddings_to_vertex",
    "gemini_embeddings_to_openai",
    "vertex_embeddings_to_openai",
]

Json = dict[str, Any]


def _texts(body: Json) -> list[str]:
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise invalid("input must be a string or a non-empty list of strings", "input")
    if not all(isinstance(t, str) for t in texts):
        raise unsupported("token-array embedding input", "input")
    return texts


def chat_embeddings_to_gemini(body: Json, model: str) -> Json:
    """An OpenAI /v1/embeddings request as a Gemini batchEmbedContents body."""
    texts = _texts(body)
    name = model if "/" in model else f"models/{model}"
    extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") is not None else {}
    return {"requests": [{"model": name, "content": {"parts": [{"text": t}]}, **extra} for t in texts]}


def gemini_embeddings_to_openai(
    resp: Json, public_model: str, input_tokens: int, *, encoding_format: str = "float"
) -> Json:
    """A batchEmbedContents response as an OpenAI embeddings list (base64 when the client asked)."""
    data: list[Json] = []
    for index, item in enumerate(resp.get("embeddings") or []):
        values = [float(v) for v in (item.get("values") if isinstance(item, dict) else None) or []]
        embedding: Any = values
        if encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": input_tokens, "total_tokens": input_tokens}
    return {"object": "list", "data": data, "model": public_model, "usage": usage}


def chat_embeddings_to_vertex(body: Json) -> Json:
    """An OpenAI /v1/embeddings request as a Vertex AI `:predict` body (one instance per text)."""
    instances = [{"content": text} for text in _texts(body)]
    if body.get("dimensions") is not None:
        return {"instances": instances, "parameters": {"outputDimensionality": body["dimensions"]}}
    return {"instances": instances}


def vertex_embeddings_to_openai(
    resp: Json, public_model: str, input_tokens: int, *, encoding_format: str = "float"
) -> tuple[Json, int | None]:
    """A `:predict` answer as an OpenAI embeddings list, and the tokens Vertex counted (None: it did not say)."""
    embeddings: list[Json] = []
    counted: int | None = None
    for prediction in resp.get("predictions") or []:
        found = prediction.get("embeddings") if isinstance(prediction, dict) else None
        found = found if isinstance(found, dict) else {}
        embeddings.append({"values": found.get("values") or []})
        statistics = found.get("statistics")
        tokens = statistics.get("token_count") if isinstance(statistics, dict) else None
        if isinstance(tokens, int | float):
            counted = (counted or 0) + int(tokens)
    tokens_used = counted if counted is not None else input_tokens
    doc = gemini_embeddings_to_openai(
        {"embeddings": embeddings}, public_model, tokens_used, encoding_format=encoding_format
    )
    return doc, counted
