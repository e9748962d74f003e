"""A fake Tavily-compatible search API: POST /search with a Bearer key."""

from __future__ import annotations

import json
from dataclasses import dataclass

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["FakeSearch"]


@dataclass
class FakeSearch(FakeServer):
    api_key: str = "tvly-fake-secret"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/search", self.search)

    async def search(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.api_key}":
            return web.json_response({"detail": {"error": "Unauthorized: missing or invalid API key."}}, status=401)
        doc = json.loads(await request.read())
        query = str(doc.get("query", ""))
        slug = "-".join(query.lower().split())[:40] or "empty"
        results = [
            {
                "title": f"{query} - Encyclopedia",
                "url": f"https://example.org/{slug}",
                "score": 0.9,
                "content": f"Everything about {query}.",
            },
            {
                "title": f"{query} news",
                "url": f"https://news.example.com/{slug}",
                "score": 0.7,
                "content": f"Latest on {query}.",
            },
        ][: int(doc.get("max_results") or 5)]
        return web.json_response({"query": query, "results": results, "response_time": 0.01})
