"""`POST /v1/moderations` for the fake OpenAI upstream: an input mentioning "attack" is flagged for
violence (score 0.9), anything else is not; one result per input, in OpenAI's shape."""

from __future__ import annotations

import json
from typing import Any

from aiohttp import web

from tests.fakes.openai import FakeOpenAI

__all__ = ["add_moderations_routes"]

_CATEGORIES = ("harassment", "hate", "self-harm", "sexual", "violence")


def _result(text: str) -> dict[str, Any]:
    violent = "attack" in text.lower()
    return {
        "flagged": violent,
        "categories": {c: violent and c == "violence" for c in _CATEGORIES},
        "category_scores": {c: 0.9 if violent and c == "violence" else 0.001 for c in _CATEGORIES},
    }


def add_moderations_routes(fake: FakeOpenAI, app: web.Application) -> None:
    async def moderate(request: web.Request) -> web.Response:
        doc = json.loads(await request.read())
        model = str(doc.get("model", ""))
        b = fake.behaviour(model)
        if (error := fake.scripted_error(b, model)) is not None:
            return error
        inputs = doc["input"] if isinstance(doc["input"], list) else [doc["input"]]
        texts = [i if isinstance(i, str) else str(i.get("text", "")) for i in inputs]
        return web.json_response({"id": "modr-fake123", "model": model, "results": [_result(t) for t in texts]})

    app.router.add_post("/v1/moderations", moderate)
