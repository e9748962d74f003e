"""`moderation`: ask a moderation endpoint about each request (and, optionally, each answer) and refuse
what it flags. OpenAI's `/v1/moderations` by default (LiteLLM's `openai_moderation` guardrail), or any
server that speaks its shape (`results[].flagged`, `categories`, `category_scores`).

Options: `base_url` (`https://api.openai.com/v1`), `api_key_env` (the environment variable holding its
key: `OPENAI_API_KEY`; the key itself never sits in a route's parameters), `model`
(`omni-moderation-latest`), `categories` (refuse only for these; default: whatever the endpoint flags),
`thresholds` (`{category: score}`: that category is refused when its score reaches the threshold, and
only then, whatever the endpoint's own flag says), `responses` (also
check answers; a stream at its end), `timeout_s` (5), `on_error` (`block`, the default: a guardrail that
cannot answer refuses with 503; `allow`: let the request through).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any, ClassVar

import httpx

from hooks.base import BaseHook, HookContext, HookResponse, HookResult, HookVerdict, chat_text

__all__ = ["Moderation"]

_CHUNK = 32_000
_MAX_CHUNKS = 8
"""A text is sent as pieces of at most _CHUNK characters (what moderation endpoints take per input), the
last _MAX_CHUNKS of them: the newest turn, at the end of a conversation, is always checked."""


def _strings(value: Any, what: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ValueError(f"moderation: {what} must be a list of names")
    return list(value)


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


class Moderation(BaseHook):
    name: ClassVar[str] = "moderation"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        o = self.options
        known = {"base_url", "api_key_env", "model", "categories", "thresholds", "responses", "timeout_s", "on_error"}
        unknown = sorted(set(o) - known)
        if unknown:
            raise ValueError(f"moderation: unknown option {unknown[0]!r}; known: {', '.join(sorted(known))}")
        self._url = str(o.get("base_url", "https://api.openai.com/v1")).rstrip("/") + "/moderations"
        if not self._url.startswith(("http://", "https://")):
            raise ValueError("moderation: base_url must be an http(s) URL")
        self._key_env = str(o.get("api_key_env", "OPENAI_API_KEY"))
        self._model = str(o.get("model", "omni-moderation-latest"))
        self._categories = set(_strings(o["categories"], "categories")) if "categories" in o else None
        thresholds = o.get("thresholds", {})
        if not isinstance(thresholds, Mapping) or not all(
            isinstance(v, int | float) and 0 <= v <= 1 for v in thresholds.values()
        ):
            raise ValueError("moderation: thresholds must map category names to scores between 0 and 1")
        self._thresholds = {str(k): float(v) for k, v in thresholds.items()}
        self._responses = bool(o.get("responses", False))
        timeout = o.get("timeout_s", 5)
        if not isinstance(timeout, int | float) or not 0 < timeout <= 60:
            raise ValueError("moderation: timeout_s must be a number of seconds in (0, 60]")
        self._timeout = float(timeout)
        self._on_error = str(o.get("on_error", "block"))
        if self._on_error not in ("block", "allow"):
            raise ValueError("moderation: on_error must be 'block' or 'allow'")
        self._client: httpx.AsyncClient | None = None

    def _http(self) -> httpx.AsyncClient:
        if self._client is None:  # made in the worker's running loop, at the first check
            self._client = httpx.AsyncClient(timeout=self._timeout)
        return self._client

    def _flagged(self, result: Mapping[str, Any]) -> list[str]:
        categories, scores = _mapping(result.get("categories")), _mapping(result.get("category_scores"))
        # A category with a threshold is decided by its score alone; the others by the endpoint's flag.
        hit = {str(c) for c, on in categories.items() if on is True and c not in self._thresholds}
        if self._categories is not None:
            hit &= self._categories
        for category, threshold in self._thresholds.items():
            score = scores.get(category)
            if isinstance(score, int | float) and score >= threshold:
                hit.add(category)
        if not hit and not categories and result.get("flagged") is True and self._categories is None:
            hit.add("flagged")  # an endpoint that says only `flagged`
        return sorted(hit)

    async def _check(self, text: str, what: str) -> HookVerdict:
        if not text.strip():
            return HookVerdict.allow()
        headers = {"Authorization": f"Bearer {os.environ.get(self._key_env, '')}"}
        pieces = [text[i : i + _CHUNK] for i in range(0, len(text), _CHUNK)][-_MAX_CHUNKS:]
        body = {"model": self._model, "input": pieces}
        try:
            response = await self._http().post(self._url, json=body, headers=headers)
            response.raise_for_status()
            results = response.json().get("results")
            if not isinstance(results, list) or not results or not isinstance(results[0], Mapping):
                raise ValueError("no results in the moderation answer")
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            if self._on_error == "allow":
                return HookVerdict.allow()
            detail = (
                f"HTTP {exc.response.status_code}" if isinstance(exc, httpx.HTTPStatusError) else type(exc).__name__
            )
            return HookVerdict.reject(
                f"The moderation check could not be made ({detail}) ({self.name})",
                status=503,
                code="GUARDRAIL_UNAVAILABLE",
            )
        flagged = sorted({c for r in results if isinstance(r, Mapping) for c in self._flagged(r)})
        if flagged:
            return HookVerdict.reject(f"The {what} was flagged by moderation: {', '.join(flagged)} ({self.name})")
        return HookVerdict.allow()

    def before(self, ctx: HookContext) -> HookResult:
        text, _ = chat_text(ctx.request)
        return self._check(text, "request")

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        if not self._responses:
            return HookVerdict.allow()
        return self._check(response.text, "answer")
