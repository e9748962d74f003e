"""OpenAI chat request -> Anthropic Messages request; the choices are listed in `app.translate.chat_to_messages`."""

from __future__ import annotations

import json
from typing import Any

from app.errors import InvalidRequestError, UnsupportedFeatureError

__all__ = ["DEFAULT_MAX_TOKENS", "chat_request_to_messages"]

DEFAULT_MAX_TOKENS = 4096
_EFFORT_BUDGET = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
_PLAIN_TEXT_KEYS = ("type", "text")


def _unsupported(feature: str, model: str, param: str, why: str = "") -> UnsupportedFeatureError:
    suffix = f" ({why})" if why else ""
    return UnsupportedFeatureError(f"{feature} is not supported by Anthropic upstream '{model}'{suffix}", param=param)


def chat_request_to_messages(body: dict[str, Any], model: str) -> dict[str, Any]:
    """An OpenAI chat request -> the Anthropic Messages request for upstream `model`."""
    _refuse_unsupported(body, model)
    system, messages = _turns(body.get("messages"), model)
    out: dict[str, Any] = {"model": model, "messages": messages, "max_tokens": _max_tokens(body)}
    if system:
        out["system"] = system
    _copy_sampling(body, out, model)
    _copy_tools(body, out, model)
    _copy_output_format(body, out, model)
    _copy_thinking(body, out)
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    if body.get("stream"):
        out["stream"] = True
    return out


def _refuse_unsupported(body: dict[str, Any], model: str) -> None:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise _unsupported("n > 1", model, "n", "one choice per request")
    for key in ("logprobs", "top_logprobs", "logit_bias", "functions"):
        if body.get(key):
            raise _unsupported(key, model, key)
    if body.get("audio") or "audio" in (body.get("modalities") or ()):
        raise _unsupported("audio output", model, "modalities")
    if body.get("web_search_options") is not None:
        raise _unsupported("web_search_options", model, "web_search_options")


def _turns(messages: Any, model: str) -> tuple[str, list[dict[str, Any]]]:
    if not isinstance(messages, list):
        raise InvalidRequestError("messages must be a list", param="messages")
    system: list[str] = []
    turns: list[dict[str, Any]] = []
    for message in messages:
        if not isinstance(message, dict):
            raise InvalidRequestError("each message must be an object", param="messages")
        role = message.get("role")
        if role in ("system", "developer"):
            text = _plain_text(message.get("content"))
            if text:
                system.append(text)
            continue
        role_out, blocks = _blocks_for(message, role, model)
        if turns and turns[-1]["role"] == role_out:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role_out, "content": blocks})
    if not turns:
        raise InvalidRequestError("messages must include a user or assistant message", param="messages")
    if turns[0]["role"] == "assistant":
        turns.insert(0, {"role": "user", "content": [_text(".")]})
    _strip_prefill(turns)
    return "\n\n".join(system), [_compact(turn) for turn in turns]


def _blocks_for(message: dict[str, Any], role: Any, model: str) -> tuple[str, list[dict[str, Any]]]:
    if role == "user":
        return "user", _user_blocks(message.get("content"), model)
    if role == "assistant":
        return "assistant", _assistant_blocks(message, model)
    if role == "tool":
        return "user", [_tool_result(message)]
    if role == "function":
        raise _unsupported("the legacy 'function' message role", model, "messages")
    raise InvalidRequestError(f"unknown message role {role!r}", param="messages")


def _text(text: str) -> dict[str, Any]:
    return {"type": "text", "text": text}


def _plain_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text") or "") for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


def _user_blocks(content: Any, model: str) -> list[dict[str, Any]]:
    if content is None:
        return []
    if isinstance(content, str):
        return [_text(content)] if content else []
    if not isinstance(content, list):
        raise InvalidRequestError("message content must be a string or a list of parts", param="messages")
    blocks = [_part(part, model) for part in content if isinstance(part, dict)]
    return [b for b in blocks if b is not None]


def _part(part: dict[str, Any], model: str) -> dict[str, Any] | None:
    kind = part.get("type")
    if kind == "text":
        text = part.get("text")
        return _text(text) if isinstance(text, str) and text else None
    if kind == "image_url":
        return _image(part.get("image_url"), model)
    if kind == "file":
        return _file(part.get("file"), model)
    raise _unsupported(f"content part type {kind!r}", model, "messages")


def _data_url(url: str) -> tuple[str, str]:
    header, _, data = url[5:].partition(",")
    if not header.endswith(";base64"):
        raise InvalidRequestError("data: URLs must be base64-encoded", param="messages")
    return header[: -len(";base64")].lower(), data


def _image(spec: Any, model: str) -> dict[str, Any]:
    url = spec.get("url") if isinstance(spec, dict) else spec
    if not isinstance(url, str):
        raise InvalidRequestError("image_url.url must be a string", param="messages")
    if url.startswith("data:"):
        media_type, data = _data_url(url)
        if media_type not in _IMAGE_TYPES:
            raise _unsupported(f"image type {media_type!r}", model, "messages", "jpeg, png, gif or webp only")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise InvalidRequestError("image_url.url must be an http(s) or data: URL", param="messages")


def _file(spec: Any, model: str) -> dict[str, Any]:
    data_url = spec.get("file_data") if isinstance(spec, dict) else None
    if isinstance(data_url, str) and data_url.startswith("data:"):
        media_type, data = _data_url(data_url)
        if media_type == "application/pdf":
            return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}
    raise _unsupported("file parts other than base64 PDF data", model, "messages")


def _assistant_blocks(message: dict[str, Any], model: str) -> list[dict[str, Any]]:
    content = message.get("content")
    blocks: list[dict[str, Any]] = []
    if isinstance(content, str) and content:
        blocks.append(_text(content))
    elif isinstance(content, list):
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind not in ("text", "refusal"):
                raise _unsupported(f"assistant content part type {kind!r}", model, "messages")
            text = part.get(kind)
            if isinstance(text, str) and text:
                blocks.append(_text(text))
    for call in message.get("tool_calls") or ():
        blocks.append(_tool_use(call, model))
    return blocks


def _tool_use(call: Any, model: str) -> dict[str, Any]:
    if not isinstance(call, dict) or call.get("type", "function") != "function":
        raise _unsupported("tool calls other than functions", model, "messages")
    fn = call.get("function") or {}
    return {"type": "tool_use", "id": call.get("id"), "name": fn.get("name"), "input": _arguments(fn)}


def _arguments(fn: dict[str, Any]) -> dict[str, Any]:
    raw = fn.get("arguments")
    if raw is None or raw == "":
        return {}
    try:
        parsed = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        parsed = None
    if not isinstance(parsed, dict):
        raise InvalidRequestError(
            f"arguments of tool call {fn.get('name')!r} must be a JSON object for an Anthropic upstream",
            param="messages",
        )
    return parsed


def _tool_result(message: dict[str, Any]) -> dict[str, Any]:
    block: dict[str, Any] = {"type": "tool_result", "tool_use_id": message.get("tool_call_id")}
    text = _plain_text(message.get("content"))
    if text:
        block["content"] = text
    return block


def _strip_prefill(turns: list[dict[str, Any]]) -> None:
    last = turns[-1]
    if last["role"] != "assistant":
        return
    blocks = last["content"]
    if blocks and blocks[-1]["type"] == "text":
        text = blocks[-1]["text"].rstrip()
        if text:
            blocks[-1] = _text(text)
        else:
            blocks.pop()
    if not blocks:
        turns.pop()


def _compact(turn: dict[str, Any]) -> dict[str, Any]:
    blocks = turn["content"]
    if not blocks:
        return {"role": turn["role"], "content": ""}
    if len(blocks) == 1 and blocks[0]["type"] == "text" and tuple(blocks[0]) == _PLAIN_TEXT_KEYS:
        return {"role": turn["role"], "content": blocks[0]["text"]}
    return turn


def _max_tokens(body: dict[str, Any]) -> int:
    for key in ("max_completion_tokens", "max_tokens"):
        value = body.get(key)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return DEFAULT_MAX_TOKENS


def _copy_sampling(body: dict[str, Any], out: dict[str, Any], model: str) -> None:
    temperature = body.get("temperature")
    if temperature is not None:
        if isinstance(temperature, int | float) and temperature > 1:
            raise _unsupported(f"temperature {temperature}", model, "temperature", "its range is 0 to 1")
        out["temperature"] = temperature
    if body.get("top_p") is not None:
        out["top_p"] = body["top_p"]
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = list(stop)


def _copy_tools(body: dict[str, Any], out: dict[str, Any], model: str) -> None:
    tools = body.get("tools")
    if not tools:
        return
    out["tools"] = [_tool(tool, model) for tool in tools]
    choice = _tool_choice(body.get("tool_choice"), model)
    if body.get("parallel_tool_calls") is False:
        choice = choice or {"type": "auto"}
        if choice["type"] != "none":
            choice["disable_parallel_tool_use"] = True
    if choice is not None:
        out["tool_choice"] = choice


def _tool(tool: Any, model: str) -> dict[str, Any]:
    if not isinstance(tool, dict) or tool.get("type") != "function":
        kind = tool.get("type") if isinstance(tool, dict) else None
        raise _unsupported(f"tool type {kind!r}", model, "tools")
    fn = tool.get("function") or {}
    schema = dict(fn.get("parameters") or {})
    schema.setdefault("type", "object")
    if schema["type"] == "object":
        schema.setdefault("properties", {})
    out: dict[str, Any] = {"name": fn.get("name"), "input_schema": schema}
    if fn.get("description"):
        out["description"] = fn["description"]
    if fn.get("strict") is True:
        out["strict"] = True
    return out


def _tool_choice(choice: Any, model: str) -> dict[str, Any] | None:
    if choice is None:
        return None
    simple = {"auto": "auto", "required": "any", "none": "none"}
    if isinstance(choice, str) and choice in simple:
        return {"type": simple[choice]}
    if isinstance(choice, dict) and choice.get("type") == "function":
        return {"type": "tool", "name": (choice.get("function") or {}).get("name")}
    raise _unsupported(f"tool_choice {choice!r}", model, "tool_choice")


def _copy_output_format(body: dict[str, Any], out: dict[str, Any], model: str) -> None:
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return
    if kind != "json_schema":
        raise _unsupported(f"response_format {kind}", model, "response_format", "use json_schema")
    schema = (fmt.get("json_schema") or {}).get("schema") if isinstance(fmt, dict) else None
    if not isinstance(schema, dict):
        raise InvalidRequestError("response_format.json_schema.schema must be an object", param="response_format")
    out["output_config"] = {"format": {"type": "json_schema", "schema": schema}}


def _copy_thinking(body: dict[str, Any], out: dict[str, Any]) -> None:
    effort = body.get("reasoning_effort")
    if effort is None or effort == "none":
        return
    budget = _EFFORT_BUDGET.get(effort) if isinstance(effort, str) else None
    if budget is None:
        raise InvalidRequestError(f"unknown reasoning_effort {effort!r}", param="reasoning_effort")
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    if out["max_tokens"] <= budget:
        out["max_tokens"] += budget
