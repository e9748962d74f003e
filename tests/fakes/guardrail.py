"""A guardrail service for the `webhook` hook: decides by what the last user text (or the answer) says.

`forbidden` -> block (with `status`/`code` when the text also says `as-403`); an answer saying
`answer-check` -> block (the request saying it passes); `rewrite-me` -> the request
with it replaced by `rewritten`; `slow` -> answers after 3 s; `broken` -> 500; `garbage` -> not JSON;
otherwise allow, with an `x-guardrail: checked` header. Requests without the right Bearer token: 401.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = ["FakeGuardrail"]


def _last_user_text(request: dict[str, Any]) -> str:
    for message in reversed(request.get("messages") or []):
        if message.get("role") == "user":
            content = message.get("content")
            return content if isinstance(content, str) else json.dumps(content)
    return ""


@dataclass
class FakeGuardrail(FakeServer):
    token: str = "guardrail-token"

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/check", self.check)

    async def check(self, request: web.Request) -> web.Response:
        if request.headers.get("authorization") != f"Bearer {self.token}":
            return web.json_response({"error": "unauthorized"}, status=401)
        body = await request.json()
        text = body["response"]["text"] if body["stage"] == "response" else _last_user_text(body["request"])
        if "slow" in text:
            await asyncio.sleep(3)
        if "broken" in text:
            return web.Response(status=500)
        if "garbage" in text:
            return web.Response(text="<html>", content_type="text/html")
        if body["stage"] == "response" and "answer-check" in text:
            return web.json_response({"verdict": "block", "reason": "the answer repeats what it must not"})
        if "forbidden" in text:
            decision: dict[str, Any] = {"verdict": "block", "reason": f"no forbidden words in the {body['stage']}"}
            if "as-403" in text:
                decision |= {"status": 403, "code": "POLICY_DENIED"}
            return web.json_response(decision)
        if "rewrite-me" in text and body["stage"] == "request":
            rewritten = json.loads(json.dumps(body["request"]).replace("rewrite-me", "rewritten"))
            return web.json_response({"verdict": "allow", "request": rewritten, "headers": {"x-guardrail": "rewrote"}})
        return web.json_response({"verdict": "allow", "headers": {"x-guardrail": "checked", "server": "nope"}})
