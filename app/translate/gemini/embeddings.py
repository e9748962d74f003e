"""OpenAI /v1/embeddings on a Gemini upstream: requests and responses.

Embeddings go to batchEmbedContents, one request per input string; token-array inputs are
unsupported; base64 output is encoded here (float32, little-endian, as OpenAI does).
"""

from __future__ import annotations

import base64
import struct
from typing import Any

from app.translate.gemini.request import invalid, unsupported

__all__ = ["chat_embeddings_to_gemini", "gemini_embeddings_to_openai"]

Json = dict[str, Any]


def chat_embeddings_to_gemini(body: Json, model: str) -> Json:
    """An OpenAI /v1/embeddings request as a Gemini batchEmbedContents body."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise invalid("input must be a string or a non-empty list of strings", "input")
    if not all(isinstance(t, str) for t in texts):
        raise unsupported("token-array embedding input", "input")
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
