"""`max-prompt`: refuse prompts above a token budget before they cost anything upstream."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from hooks.base import BaseHook, HookContext, HookResult, HookVerdict, chat_text

__all__ = ["MaxPrompt"]

_PER_MESSAGE = 3
"""Chat-format overhead per message, as OpenAI's cookbook counts it."""


class MaxPrompt(BaseHook):
    """Option `max_tokens` (required): prompt tokens (o200k_base, every message text) allowed per request."""

    name: ClassVar[str] = "max-prompt"

    def __init__(self, options: Mapping[str, Any] | None = None) -> None:
        super().__init__(options)
        limit = self.options.get("max_tokens")
        if not isinstance(limit, int) or isinstance(limit, bool) or limit <= 0:
            raise ValueError(f"max-prompt needs a positive integer `max_tokens`, got {limit!r}")
        self.max_tokens = limit

    def before(self, ctx: HookContext) -> HookResult:
        text, messages = chat_text(ctx.request)
        # Cheap bound first: a token is at least one character, so short prompts skip the tokenizer.
        if len(text) + _PER_MESSAGE * messages <= self.max_tokens:
            return HookVerdict.allow()
        tokens = ctx.count_tokens(text) + _PER_MESSAGE * messages
        if tokens <= self.max_tokens:
            return HookVerdict.allow()
        return HookVerdict.reject(
            f"The prompt has {tokens} tokens; at most {self.max_tokens} are allowed here ({self.name})",
            code="CONTEXT_LENGTH_EXCEEDED",
        )
