"""Anthropic Messages request -> OpenAI chat request; the choices are listed in `app.translate.messages_to_chat`."""

from __future__ import annotations

import json
from typing import Any

from app.errors import InvalidRequestError, UnsupportedFeatureError

__all__ = ["messages_request_to_chat"]

_EFFORT = {"low": "low", "medium": "medium", "high": "high", "xhigh": "xhigh", "max": "xhigh"}


def _unsupported(feature: str, model: Any, param: str) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(
        f"{feature} is not supported when model '{model}' is served by a Chat Completions upstream", param=param
    )


def messages_request_to_chat(body: dict[str, Any]) -> dict[str, Any]:
    """An Anthropic Messages request -> an OpenAI chat request (`model` kept; the caller rewrites it)."""
    model = body.get("model")
    if body.get("mcp_servers"):
        raise _unsupported("mcp_servers", model, "mcp_servers")
    messages: list[dict[str, Any]] = []
    system = _system_text(body.get("system"))
    if system:
        messages.append({"role": "system", "content": system})
    turns = body.get("messages")
    if not isinstance(turns, list):
        raise InvalidRequestError("messages must be a list", param="messages")
    for turn in turns:
        messages.extend(_chat_messages(turn, model))
    out: dict[str, Any] = {"model": model, "messages": messages}
    for key in ("max_tokens", "temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("stop_sequences"):
        out["stop"] = list(body["stop_sequences"])
    if body.get("stream"):
        out["stream"] = True
        out["stream_options"] = {"include_usage": True}
    user = (body.get("metadata") or {}).get("user_id")
    if isinstance(user, str) and user:
        out["user"] = user
    _copy_tools(body, out, model)
    _copy_reasoning(body, out)
    _copy_output_format(body, out)
    return out


def _system_text(system: Any) -> str:
    if isinstance(system, list):
        return "\n\n".join(str(b.get("text") or "") for b in system if isinstance(b, dict) and b.get("type") == "text")
    return system if isinstance(system, str) else ""


def _chat_messages(turn: Any, model: Any) -> list[dict[str, Any]]:
    if not isinstance(turn, dict):
        raise InvalidRequestError("each message must be an object", param="messages")
    role, content = turn.get("role"), turn.get("content")
    if role == "user":
        return _user_messages(content, model)
    if role == "assistant":
        return [_assistant_message(content, model)]
    raise InvalidRequestError(f"message role must be user or assistant, not {role!r}", param="messages")


def _blocks(content: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"type": "text", "text": content}]
    if not isinstance(content, list):
        raise InvalidRequestError("message content must be a string or a list of blocks", param="messages")
    return [b for b in content if isinstance(b, dict)]


def _user_messages(content: Any, model: Any) -> list[dict[str, Any]]:
    if isinstance(content, str):
        return [{"role": "user", "content": content}]
    tools: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "tool_result":
            tools.append(_tool_message(block, model))
        elif kind == "text":
            parts.append({"type": "text", "text": str(block.get("text") or "")})
        elif kind in ("image", "document"):
            parts.append(_media_part(block, model))
        else:
            raise _unsupported(f"content block type {kind!r}", model, "messages")
    if len(parts) == 1 and parts[0]["type"] == "text":
        return [*tools, {"role": "user", "content": parts[0]["text"]}]
    return [*tools, {"role": "user", "content": parts}] if parts else tools


def _media_part(block: dict[str, Any], model: Any) -> dict[str, Any]:
    source = block.get("source") or {}
    kind, media_type = source.get("type"), source.get("media_type")
    if block.get("type") == "image" and kind == "url":
        return {"type": "image_url", "image_url": {"url": source.get("url")}}
    if block.get("type") == "image" and kind == "base64":
        return {"type": "image_url", "image_url": {"url": f"data:{media_type};base64,{source.get('data')}"}}
    if kind == "base64" and media_type == "application/pdf":
        data_url = f"data:application/pdf;base64,{source.get('data')}"
        return {"type": "file", "file": {"filename": str(block.get("title") or "document.pdf"), "file_data": data_url}}
    raise _unsupported(f"{block.get('type')} source {kind!r}", model, "messages")


def _tool_message(block: dict[str, Any], model: Any) -> dict[str, Any]:
    content = block.get("content")
    if content is None:
        text = ""
    elif isinstance(content, str):
        text = content
    else:
        pieces = []
        for part in _blocks(content):
            if part.get("type") != "text":
                raise _unsupported(f"{part.get('type')} blocks inside tool_result", model, "messages")
            pieces.append(str(part.get("text") or ""))
        text = "\n".join(pieces)
    if block.get("is_error"):
        text = "Error: " + text
    return {"role": "tool", "tool_call_id": block.get("tool_use_id"), "content": text}


def _assistant_message(content: Any, model: Any) -> dict[str, Any]:
    if isinstance(content, str):
        return {"role": "assistant", "content": content}
    text: list[str] = []
    calls: list[dict[str, Any]] = []
    for block in _blocks(content):
        kind = block.get("type")
        if kind == "text":
            text.append(str(block.get("text") or ""))
        elif kind == "tool_use":
            arguments = json.dumps(block.get("input") or {}, ensure_ascii=False)
            fn = {"name": block.get("name"), "arguments": arguments}
            calls.append({"id": block.get("id"), "type": "function", "function": fn})
        elif kind not in ("thinking", "redacted_thinking"):
            raise _unsupported(f"assistant content block type {kind!r}", model, "messages")
    message: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if calls:
        message["tool_calls"] = calls
    return message


def _copy_tools(body: dict[str, Any], out: dict[str, Any], model: Any) -> None:
    tools = body.get("tools")
    if not tools:
        return
    out["tools"] = [_function_tool(tool, model) for tool in tools]
    choice = body.get("tool_choice")
    if not isinstance(choice, dict):
        return
    kind = choice.get("type")
    if kind == "tool":
        out["tool_choice"] = {"type": "function", "function": {"name": choice.get("name")}}
    elif kind in ("auto", "any", "none"):
        out["tool_choice"] = {"auto": "auto", "any": "required", "none": "none"}[kind]
    else:
        raise _unsupported(f"tool_choice type {kind!r}", model, "tool_choice")
    if choice.get("disable_parallel_tool_use"):
        out["parallel_tool_calls"] = False


def _function_tool(tool: Any, model: Any) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") not in (None, "custom"):
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise _unsupported(f"server tool {kind!r}", model, "tools")
    fn: dict[str, Any] = {"name": tool.get("name")}
    if tool.get("description"):
        fn["description"] = tool["description"]
    fn["parameters"] = tool.get("input_schema") or {"type": "object", "properties": {}}
    if tool.get("strict") is True:
        fn["strict"] = True
    return {"type": "function", "function": fn}


def _copy_reasoning(body: dict[str, Any], out: dict[str, Any]) -> None:
    thinking = body.get("thinking")
    if isinstance(thinking, dict) and thinking.get("type") == "enabled":
        budget = thinking.get("budget_tokens")
        budget = budget if isinstance(budget, int) else 0
        out["reasoning_effort"] = "low" if budget < 4096 else "medium" if budget < 16384 else "high"
    effort = (body.get("output_config") or {}).get("effort")
    if isinstance(effort, str) and effort in _EFFORT:
        out["reasoning_effort"] = _EFFORT[effort]


def _copy_output_format(body: dict[str, Any], out: dict[str, Any]) -> None:
    fmt = (body.get("output_config") or {}).get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "json_schema":
        spec = {"name": "output", "schema": fmt.get("schema") or {}, "strict": True}
        out["response_format"] = {"type": "json_schema", "json_schema": spec}
