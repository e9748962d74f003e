"""Shaping a continuation's hub chunks to read as the rest of the original stream."""

from __future__ import annotations

from typing import Any

from app.accounting.tokens import count_tokens

__all__ = ["merge_usage", "visible_chunks"]

Json = dict[str, Any]


def _role_only(chunk: Json) -> bool:
    for choice in chunk.get("choices") or ():
        delta = choice.get("delta") or {}
        if delta.get("content") or delta.get("tool_calls") or delta.get("reasoning_content"):
            return False
        if choice.get("finish_reason"):
            return False
    return bool(chunk.get("choices"))


def merge_usage(usage: Json, partial: str) -> Json:
    """The caller's view: the original prompt, and the partial plus the continuation as completion."""
    spent = count_tokens(partial)
    merged = dict(usage)
    merged["prompt_tokens"] = max(0, int(usage.get("prompt_tokens") or 0) - spent)
    merged["completion_tokens"] = int(usage.get("completion_tokens") or 0) + spent
    merged["total_tokens"] = merged["prompt_tokens"] + merged["completion_tokens"]
    return merged


def visible_chunks(chunks: list[Json], *, chunk_id: str | None, partial: str) -> list[Json]:
    """Drop the continuation's opening role chunk, keep the original id, merge usage."""
    out = []
    for chunk in chunks:
        if _role_only(chunk):
            continue
        if chunk_id is not None:
            chunk["id"] = chunk_id
        if isinstance(chunk.get("usage"), dict):
            chunk["usage"] = merge_usage(chunk["usage"], partial)
        out.append(chunk)
    return out
