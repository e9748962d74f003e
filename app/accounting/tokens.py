"""Token estimates with bpe-openai (tiktoken's API, encodings bundled) when an upstream reports none."""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from app.accounting.events import Usage

__all__ = ["PER_MESSAGE_TOKENS", "count_tokens", "estimate_usage", "prompt_text"]

PER_MESSAGE_TOKENS = 3
"""Per-message overhead of the chat format, as OpenAI's cookbook counts it."""


@lru_cache(maxsize=1)
def _encoding() -> Any:
    # Imported on first use: bpe-openai costs ~70 MB and 0.4 s, and most deployments get usage
    # from their upstreams and never need to count tokens themselves.
    import bpe_openai

    return bpe_openai.get_encoding("o200k_base")


def count_tokens(text: str) -> int:
    return len(_encoding().encode(text)) if text else 0


def prompt_text(body: dict[str, Any]) -> tuple[str, int]:
    """The text of a chat/messages/responses/completions request, and how many messages it has."""
    prompt = body.get("prompt")
    if isinstance(prompt, str | list):  # legacy completions: no messages, so no per-message overhead
        texts = [prompt] if isinstance(prompt, str) else prompt
        return "\n".join(t for t in texts if isinstance(t, str)), 0
    parts: list[str] = []
    count = 0
    system = body.get("system") or body.get("instructions")
    if isinstance(system, str):
        parts.append(system)
    elif isinstance(system, list):
        parts.extend(str(b.get("text", "")) for b in system if isinstance(b, dict))
    messages = body.get("messages") or body.get("input") or []
    if isinstance(messages, str):
        return "\n".join([*parts, messages]), 1
    for message in messages if isinstance(messages, list) else []:
        if not isinstance(message, dict):
            continue
        count += 1
        content = message.get("content")
        if isinstance(content, str):
            parts.append(content)
        elif isinstance(content, list):
            parts.extend(str(p.get("text", "")) for p in content if isinstance(p, dict) and "text" in p)
    return "\n".join(parts), count


def estimate_usage(body: dict[str, Any], completion: str) -> Usage:
    text, messages = prompt_text(body)
    return Usage(
        prompt_tokens=count_tokens(text) + PER_MESSAGE_TOKENS * messages,
        completion_tokens=count_tokens(completion),
        estimated=True,
    )
