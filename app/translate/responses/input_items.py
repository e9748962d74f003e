"""A stored response's input items (`GET /v1/responses/{id}/input_items`) from its chat-form conversation.

A response is stored with the conversation that produced it, in chat form (so any upstream can
continue it): every earlier turn, this request's input, then this response's own answer. Its input
items are that conversation without the answer, in the Responses API's item shapes, as OpenAI lists
them (earlier turns included). Instructions are not items, as at OpenAI. Pure functions.
"""

from __future__ import annotations

from typing import Any

__all__ = ["input_items"]

Json = dict[str, Any]


def _answered(response: Json) -> bool:
    """Whether the stored conversation ends with this response's answer (text or function calls)."""
    for item in response.get("output") or []:
        if not isinstance(item, dict):
            continue
        if item.get("type") == "function_call":
            return True
        if item.get("type") == "message" and any(
            isinstance(p, dict) and p.get("type") == "output_text" and p.get("text") for p in item.get("content") or []
        ):
            return True
    return False


def _input_parts(content: Any) -> list[Json]:
    if isinstance(content, str):
        return [{"type": "input_text", "text": content}]
    parts: list[Json] = []
    for part in content if isinstance(content, list) else []:
        if not isinstance(part, dict):
            continue
        if part.get("type") == "text":
            parts.append({"type": "input_text", "text": part.get("text") or ""})
        elif part.get("type") == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            detail = image.get("detail", "auto") if isinstance(image, dict) else "auto"
            parts.append({"type": "input_image", "image_url": url, "detail": detail})
        elif part.get("type") == "file":
            parts.append({"type": "input_file", **(part.get("file") or {})})
    return parts


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    parts = content if isinstance(content, list) else []
    return "".join(str(p.get("text") or "") for p in parts if isinstance(p, dict) and p.get("type") == "text")


def _items(message: Json, stem: str, index: int) -> list[Json]:
    role = message.get("role")
    ident = f"{stem}{index:04d}"
    if role == "tool":
        output = {"call_id": message.get("tool_call_id"), "output": _text(message.get("content"))}
        return [{"id": f"fco_{ident}", "type": "function_call_output", **output, "status": "completed"}]
    if role == "assistant":
        out: list[Json] = []
        text = _text(message.get("content"))
        if text:
            content = [{"type": "output_text", "text": text, "annotations": []}]
            out.append(
                {
                    "id": f"msg_{ident}",
                    "type": "message",
                    "role": "assistant",
                    "status": "completed",
                    "content": content,
                }
            )
        for n, call in enumerate(message.get("tool_calls") or []):
            function = (call.get("function") or {}) if isinstance(call, dict) else {}
            out.append(
                {
                    "id": f"fc_{ident}{n:02d}",
                    "type": "function_call",
                    "call_id": call.get("id") if isinstance(call, dict) else None,
                    "name": function.get("name"),
                    "arguments": function.get("arguments") or "{}",
                    "status": "completed",
                }
            )
        return out
    parts = _input_parts(message.get("content"))
    return [{"id": f"msg_{ident}", "type": "message", "role": role, "status": "completed", "content": parts}]


def input_items(response: Json, conversation: list[Json]) -> list[Json]:
    """The response's input items, oldest first, each with an id stable across reads."""
    messages = conversation[:-1] if conversation and _answered(response) else conversation
    stem = str(response.get("id") or "resp").removeprefix("resp_")
    out: list[Json] = []
    for index, message in enumerate(messages):
        if isinstance(message, dict):
            out.extend(_items(message, stem, index))
    return out
