"""`webhook`: let an HTTP service of your own decide about each request (and, optionally, each answer):
Portkey's webhook guardrail, LiteLLM's generic guardrail API. Any policy engine plugs in without Python.

POST `url` with `{"stage": "request" | "response", "endpoint", "model", "route", "key_id", "user_id",
"request_id", "request": <the request in Chat Completions form>, "response": {"text"} (response stage)}`;
it answers `{"verdict": "allow" | "block", "reason", "status", "code", "request", "headers"}`, each
member optional: `block` refuses with `status` (400-599, default 400) and `code` (default
`CONTENT_BLOCKED`) and says `reason`; a `request` on the request stage replaces the request (redaction,
added instructions); `headers` (`x-` names) go on the response.

Options: `url` (required), `api_key_env` (an environment variable whose value goes as a Bearer token;
the token itself never sits in route parameters), `responses` (also ask about answers; a stream at its
end), `timeout_s` (5), `on_error` (`block`, the default: an unreachable or failing service means 503
`GUARDRAIL_UNAVAILABLE`; `allow`: let it through).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from hooks.base import BaseHook, HookContext, HookResponse, HookResult, HookVerdict

__all__ = ["Webhook"]

_CODE = re.compile(r"^[A-Z][A-Z0-9_]{0,59}$")
_KNOWN = {"url", "api_key_env", "responses", "timeout_s", "on_error"}


class Webhook(BaseHook):
    name: ClassVar[str] = "webhook"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        unknown = sorted(set(o) - _KNOWN)
        if unknown:
            raise ValueError(f"webhook: unknown option {unknown[0]!r}; known: {', '.join(sorted(_KNOWN))}")
        url = o.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError("webhook: url must be an http(s) URL")
        self._url = url
        self._key_env = str(o["api_key_env"]) if o.get("api_key_env") else None
        self._responses = bool(o.get("responses", False))
        timeout = o.get("timeout_s", 5)
        if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise ValueError("webhook: timeout_s must be a number of seconds in (0, 60]")
        self._timeout = float(timeout)
        self._on_error = str(o.get("on_error", "block"))
        if self._on_error not in ("block", "allow"):
            raise ValueError("webhook: on_error must be 'block' or 'allow'")
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made in the worker's running loop, at the first check
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    async def _ask(self, ctx: HookContext, stage: str, response: HookResponse | None) -> HookVerdict:
        body: dict[str, Any] = {
            "stage": stage,
            "endpoint": ctx.endpoint,
            "model": ctx.model,
            "route": ctx.route,
            "key_id": ctx.key_id,
            "user_id": ctx.user_id,
            "request_id": ctx.request_id,
            "request": ctx.request,
        }
        if response is not None:
            body["response"] = {"text": response.text, "provider": response.provider, "model": response.model}
        headers = {"Authorization": f"Bearer {os.environ.get(self._key_env, '')}"} if self._key_env else {}
        try:
            answer = await self._http().post(self._url, json=body, headers=headers)
            answer.raise_for_status()
            decided = answer.json()
            if not isinstance(decided, dict):
                raise ValueError("the answer is not a JSON object")
        except (httpx.HTTPError, ValueError) as exc:
            if self._on_error == "allow":
                return HookVerdict.allow()
            what = f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__
            return HookVerdict.reject(
                f"The guardrail service could not decide ({what}) ({self.name})",
                status=503,
                code="GUARDRAIL_UNAVAILABLE",
            )
        return _verdict(decided, stage)

    def before(self, ctx: HookContext) -> HookResult:
        return self._ask(ctx, "request", None)

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        if not self._responses:
            return HookVerdict.allow()
        return self._ask(ctx, "response", response)


def _verdict(decided: Mapping[str, Any], stage: str) -> HookVerdict:
    raw_headers = decided.get("headers")
    headers = (
        {str(k): str(v) for k, v in raw_headers.items() if str(k).lower().startswith("x-")}
        if isinstance(raw_headers, Mapping)
        else {}
    )
    if decided.get("verdict") == "block":
        status = decided.get("status")
        code = decided.get("code")
        return HookVerdict.reject(
            f"{decided.get('reason') or 'Refused by the guardrail service'} (webhook)",
            status=status if isinstance(status, int) and 400 <= status <= 599 else 400,
            code=code if isinstance(code, str) and _CODE.match(code) else "CONTENT_BLOCKED",
        )
    request = decided.get("request")
    if stage == "request" and isinstance(request, dict) and isinstance(request.get("messages"), list):
        return HookVerdict.rewrite(request, headers=headers)
    return HookVerdict.annotate(headers) if headers else HookVerdict.allow()
