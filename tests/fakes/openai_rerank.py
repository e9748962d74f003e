"""`POST /v1/rerank` for the fake OpenAI-compatible upstream, in the shape vLLM and Jina answer.

Each document scores the share of the query's words it contains (ties keep input order); results
come best first, cut to `top_n`, with the document when `return_documents` asks; `usage.total_tokens`
counts the words of the query and documents. Status models (`fake-500`, ...) and scripts answer
with their errors; a `usage: null` script leaves usage out and `meta` puts Cohere's billed units in.
"""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI

__all__ = ["add_rerank_routes", "relevance"]


def relevance(query: str, document: str) -> float:
    words = query.lower().split()
    seen = set(document.lower().split())
    return round(sum(1 for w in words if w in seen) / len(words), 4) if words else 0.0


def add_rerank_routes(fake: FakeOpenAI, app: web.Application) -> None:
    async def rerank(request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = fake.behaviour(model)
        if (error := fake.scripted_error(b, model)) is not None:
            return error
        query = str(doc["query"])
        texts = [d if isinstance(d, str) else d["text"] for d in doc["documents"]]
        ranked = sorted(range(len(texts)), key=lambda i: -relevance(query, texts[i]))
        results = []
        for index in ranked[: doc.get("top_n") or len(texts)]:
            result: dict[str, Any] = {"index": index, "relevance_score": relevance(query, texts[index])}
            if doc.get("return_documents"):
                result["document"] = {"text": texts[index]}
            results.append(result)
        out: dict[str, Any] = {"id": "rerank-fake123", "model": model, "results": results}
        if b.get("meta"):
            out = {"id": "rerank-fake123", "results": results, "meta": {"billed_units": {"search_units": 1}}}
        elif "usage" not in b:
            out["usage"] = {"total_tokens": len(query.split()) + sum(len(t.split()) for t in texts)}
        return web.json_response(out)

    app.router.add_post("/v1/rerank", rerank)
