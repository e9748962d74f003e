"""`deny-list`: refuse requests (and optionally answers) that match a regex or contain a keyword."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, ClassVar

from hooks.base import BaseHook, HookContext, HookResponse, HookResult, HookVerdict, chat_text

__all__ = ["DenyList"]


class DenyList(BaseHook):
    """Options: `patterns` (regexes, searched), `keywords` (whole words, any case), `responses` (also check answers).

    With `responses`, each streamed text delta is checked as it arrives and the assembled answer
    once more at the end (a match split across deltas is caught there, before the terminator).
    """

    name: ClassVar[str] = "deny-list"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        patterns = [str(p) for p in self.options.get("patterns") or ()]
        keywords = [str(k) for k in self.options.get("keywords") or ()]
        if keywords:
            # All keywords in one alternation: a single pass over the text however many there are.
            patterns.append(r"(?i)\b(?:" + "|".join(re.escape(k) for k in keywords) + r")\b")
        self._regexes = tuple(re.compile(p) for p in patterns)  # each its own: a pattern may set global flags
        self._responses = bool(self.options.get("responses", False))

    def _verdict(self, text: str, what: str) -> HookVerdict:
        if any(regex.search(text) for regex in self._regexes):
            return HookVerdict.reject(f"The {what} contains blocked content ({self.name})")
        return HookVerdict.allow()

    def before(self, ctx: HookContext) -> HookResult:
        text, _ = chat_text(ctx.request)
        return self._verdict(text, "request")

    def after(self, ctx: HookContext, response: HookResponse) -> HookResult:
        return self._verdict(response.text, "answer") if self._responses else HookVerdict.allow()

    def on_chunk(self, ctx: HookContext, text_delta: str) -> HookResult:
        return self._verdict(text_delta, "answer") if self._responses else HookVerdict.allow()
