"""Reading the parts of Chat Completions messages, as every translator from the hub needs to."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from app.errors import InvalidRequestError, UnsupportedFeatureError

__all__ = ["function_tools", "part_texts", "tool_arguments"]

Json = dict[str, Any]


def tool_arguments(raw: Any) -> Json:
    """A tool call's `arguments` as an object ("" and None count as {}); anything else is the caller's error."""
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise InvalidRequestError("tool call arguments must be a JSON object", param="messages") from None
    if not isinstance(value, dict):
        raise InvalidRequestError("tool call arguments must be a JSON object", param="messages")
    return value


def part_texts(parts: list[Any], unsupported: Callable[[str, str], UnsupportedFeatureError]) -> list[str]:
    """The texts of a list of parts (text, refusal, bare strings); another part is `unsupported` by the target."""
    out: list[str] = []
    for part in parts:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            out.append(str(part.get("text") or part.get("refusal") or ""))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise unsupported(f"content part {kind!r} in this message role", "messages")
    return out


def function_tools(tools: Any, unsupported: Callable[[str, str], UnsupportedFeatureError]) -> list[Json]:
    """The `function` members of a request's tools, each with a name; another tool type is `unsupported`."""
    if not tools:
        return []
    functions: list[Json] = []
    for tool in tools if isinstance(tools, list) else [tools]:
        kind = tool.get("type") if isinstance(tool, dict) else None
        function = tool.get("function") if isinstance(tool, dict) else None
        if kind != "function" or not isinstance(function, dict):
            raise unsupported(f"tool type {kind!r}", "tools")
        if not function.get("name"):
            raise InvalidRequestError("every function tool needs a name", param="tools")
        functions.append(function)
    return functions
