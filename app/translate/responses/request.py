"""Responses API request -> Chat Completions request: input items become chat messages."""

from __future__ import annotations

import json
from typing import Any

from app.errors import InvalidRequestError, UnsupportedFeatureError

__all__ = ["has_web_search", "is_web_search_tool", "responses_request_to_chat"]

# Items a client may echo back from an earlier response that carry nothing a chat model can use.
_DROPPED_ITEMS = frozenset({"reasoning", "web_search_call"})
_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
_TOOL_CHOICE_WORDS = frozenset({"auto", "none", "required"})
_TEXT_PARTS = frozenset({"input_text", "output_text", "text"})


def is_web_search_tool(tool: Any) -> bool:
    """`web_search`, `web_search_preview` and their dated variants (`web_search_preview_2025_03_11`)."""
    return isinstance(tool, dict) and str(tool.get("type") or "").startswith("web_search")


def has_web_search(body: dict[str, Any]) -> bool:
    """Whether the request asks for the built-in web search tool (the caller runs it, not the model)."""
    tools = body.get("tools")
    return isinstance(tools, list) and any(is_web_search_tool(tool) for tool in tools)


def responses_request_to_chat(body: dict[str, Any], history: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """Translate a Responses request; `history` (chat messages of the previous response) follows the system message.

    `metadata`, `store`, `previous_response_id`, `include`, `truncation` and `background` are the
    caller's business and are ignored here, as are web search tools (see `has_web_search`).
    """
    if not isinstance(body, dict):
        raise InvalidRequestError("the request body must be a JSON object")
    for field in ("prompt", "conversation"):
        if body.get(field) is not None:
            raise UnsupportedFeatureError(f"'{field}' is not supported; send the input items", param=field)
    messages = _system_messages(body.get("instructions"))
    messages.extend(dict(message) for message in history or [])
    messages.extend(_input_messages(body.get("input")))
    if not any(message.get("role") != "system" for message in messages):
        raise InvalidRequestError("input is empty", param="input")
    chat: dict[str, Any] = {"model": body.get("model"), "messages": messages}
    chat.update(_tool_params(body))
    chat.update(_sampling_params(body))
    chat.update(_text_params(body.get("text")))
    if body.get("stream"):
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}
    return chat


def _system_messages(instructions: Any) -> list[dict[str, Any]]:
    if instructions is None or instructions == "":
        return []
    if not isinstance(instructions, str):
        raise InvalidRequestError("instructions must be a string", param="instructions")
    return [{"role": "system", "content": instructions}]


# -- input items ----------------------------------------------------------------------------


def _input_messages(raw: Any) -> list[dict[str, Any]]:
    if isinstance(raw, str):
        return [{"role": "user", "content": raw}]
    if raw is None:
        raise InvalidRequestError("input is missing", param="input")
    if not isinstance(raw, list):
        raise InvalidRequestError("input must be a string or a list of items", param="input")
    out: list[dict[str, Any]] = []
    for index, item in enumerate(raw):
        path = f"input[{index}]"
        if not isinstance(item, dict):
            raise InvalidRequestError(f"{path} must be an object", param=path)
        kind = item.get("type") or ("message" if "role" in item else None)
        if kind is not None and not isinstance(kind, str):
            raise InvalidRequestError(f"{path}.type must be a string", param=f"{path}.type")
        if kind == "message":
            out.append(_message(item, path))
        elif kind == "function_call":
            _append_tool_call(out, _function_call(item, path))
        elif kind == "function_call_output":
            out.append(_function_output(item, path))
        elif kind is None:
            raise InvalidRequestError(f"{path}.type is missing", param=f"{path}.type")
        elif kind not in _DROPPED_ITEMS:
            raise UnsupportedFeatureError(f"{path}: input item type '{kind}' is not supported", param=f"{path}.type")
    return out


def _append_tool_call(out: list[dict[str, Any]], call: dict[str, Any]) -> None:
    # An assistant turn is one chat message: its text and all its calls belong together.
    last = out[-1] if out else None
    if last is not None and last["role"] == "assistant":
        last.setdefault("tool_calls", []).append(call)
        return
    out.append({"role": "assistant", "content": None, "tool_calls": [call]})


def _message(item: dict[str, Any], path: str) -> dict[str, Any]:
    raw_role = item.get("role")
    role = _ROLES.get(raw_role) if isinstance(raw_role, str) else None
    if role is None:
        raise InvalidRequestError(
            f"{path}.role must be one of user, assistant, system, developer", param=f"{path}.role"
        )
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequestError(f"{path}.content must be a string or a list of parts", param=f"{path}.content")
    parts = [_part(part, f"{path}.content[{i}]") for i, part in enumerate(content)]
    if role == "user":
        return {"role": role, "content": parts}
    for i, part in enumerate(parts):
        if part["type"] != "text":
            raise UnsupportedFeatureError(
                f"{path}.content[{i}]: only text parts are allowed in {item.get('role')} messages",
                param=f"{path}.content[{i}]",
            )
    joiner = "" if role == "assistant" else "\n"
    return {"role": role, "content": joiner.join(part["text"] for part in parts)}


def _part(part: Any, path: str) -> dict[str, Any]:
    if not isinstance(part, dict):
        raise InvalidRequestError(f"{path} must be an object", param=path)
    kind = part.get("type")
    if kind is not None and not isinstance(kind, str):
        raise InvalidRequestError(f"{path}.type must be a string", param=f"{path}.type")
    if kind in _TEXT_PARTS or kind == "refusal":
        key = "refusal" if kind == "refusal" else "text"
        text = part.get(key)
        if not isinstance(text, str):
            raise InvalidRequestError(f"{path}.{key} must be a string", param=f"{path}.{key}")
        return {"type": "text", "text": text}
    if kind == "input_image":
        return _image_part(part, path)
    if kind == "input_file":
        return _file_part(part, path)
    if kind is None:
        raise InvalidRequestError(f"{path}.type is missing", param=f"{path}.type")
    raise UnsupportedFeatureError(f"{path}: content part type '{kind}' is not supported", param=f"{path}.type")


def _image_part(part: dict[str, Any], path: str) -> dict[str, Any]:
    if part.get("file_id"):
        raise UnsupportedFeatureError(
            f"{path}.file_id: images by file_id are not supported; send image_url", param=f"{path}.file_id"
        )
    url = part.get("image_url")
    if isinstance(url, dict):  # the chat shape, sent by clients that mix the two dialects
        url = url.get("url")
    if not isinstance(url, str) or not url:
        raise InvalidRequestError(f"{path}.image_url is missing", param=f"{path}.image_url")
    image: dict[str, Any] = {"url": url}
    if part.get("detail") is not None:
        image["detail"] = part["detail"]
    return {"type": "image_url", "image_url": image}


def _file_part(part: dict[str, Any], path: str) -> dict[str, Any]:
    for unsupported in ("file_id", "file_url"):
        if part.get(unsupported):
            raise UnsupportedFeatureError(
                f"{path}.{unsupported}: files by reference are not supported; send file_data",
                param=f"{path}.{unsupported}",
            )
    data = part.get("file_data")
    if not isinstance(data, str) or not data:
        raise InvalidRequestError(f"{path}.file_data is missing", param=f"{path}.file_data")
    file: dict[str, Any] = {"file_data": data}
    if part.get("filename"):
        file["filename"] = part["filename"]
    return {"type": "file", "file": file}


def _call_id(item: dict[str, Any], path: str) -> str:
    for key in ("call_id", "callId", "id"):
        value = item.get(key)
        if isinstance(value, str) and value:
            return value
    raise InvalidRequestError(f"{path}.call_id is missing", param=f"{path}.call_id")


_CALL_ITEMS = ("function_call", "function_call_output")


def with_canonical_call_ids(body: dict[str, Any]) -> dict[str, Any]:
    """The body with every function-call item carrying `call_id`, the one spelling OpenAI accepts.

    For native Responses upstreams: a sloppy `callId` (or an `id` standing in for the call id)
    would be refused there as an unknown or wrong parameter. The body is copied only when an
    item needs it.
    """
    items = body.get("input")
    if not isinstance(items, list) or not any(_needs_call_id(item) for item in items):
        return body
    fixed: list[Any] = []
    for i, item in enumerate(items):
        if _needs_call_id(item):
            call_id = _call_id(item, f"input[{i}]")
            item = {k: v for k, v in item.items() if k != "callId" and not (k == "id" and v == call_id)}
            item["call_id"] = call_id
        fixed.append(item)
    return {**body, "input": fixed}


def _needs_call_id(item: Any) -> bool:
    if not isinstance(item, dict) or item.get("type") not in _CALL_ITEMS:
        return False
    return "callId" in item or not isinstance(item.get("call_id"), str) or not item["call_id"]


def _function_call(item: dict[str, Any], path: str) -> dict[str, Any]:
    call_id = _call_id(item, path)
    name = item.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{path}.name is missing", param=f"{path}.name")
    arguments = item.get("arguments")
    if isinstance(arguments, dict | list):
        arguments = json.dumps(arguments)
    if arguments is None or arguments == "":
        arguments = "{}"
    if not isinstance(arguments, str):
        raise InvalidRequestError(f"{path}.arguments must be a string", param=f"{path}.arguments")
    return {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}


def _function_output(item: dict[str, Any], path: str) -> dict[str, Any]:
    call_id = _call_id(item, path)
    output = item.get("output")
    if output is None:
        raise InvalidRequestError(f"{path}.output is missing", param=f"{path}.output")
    if isinstance(output, list):
        parts = [_part(part, f"{path}.output[{i}]") for i, part in enumerate(output)]
        for i, part in enumerate(parts):
            if part["type"] != "text":
                raise UnsupportedFeatureError(
                    f"{path}.output[{i}]: only text is supported in a function_call_output",
                    param=f"{path}.output[{i}]",
                )
        output = "".join(part["text"] for part in parts)
    elif not isinstance(output, str):
        output = json.dumps(output)
    return {"role": "tool", "tool_call_id": call_id, "content": output}


# -- tools ----------------------------------------------------------------------------------


def _tool_params(body: dict[str, Any]) -> dict[str, Any]:
    tools = _tools(body.get("tools"))
    if not tools:
        # Chat upstreams reject tool_choice and parallel_tool_calls without tools.
        return {}
    out: dict[str, Any] = {"tools": tools}
    choice = _tool_choice(body.get("tool_choice"))
    if choice is not None:
        out["tool_choice"] = choice
    if body.get("parallel_tool_calls") is not None:
        out["parallel_tool_calls"] = bool(body["parallel_tool_calls"])
    return out


def _tools(raw: Any) -> list[dict[str, Any]]:
    if raw is None:
        return []
    if not isinstance(raw, list):
        raise InvalidRequestError("tools must be a list", param="tools")
    out: list[dict[str, Any]] = []
    for index, tool in enumerate(raw):
        path = f"tools[{index}]"
        if not isinstance(tool, dict):
            raise InvalidRequestError(f"{path} must be an object", param=path)
        kind = tool.get("type")
        if kind == "function":
            out.append(_function_tool(tool, path))
        elif kind is None:
            raise InvalidRequestError(f"{path}.type is missing", param=f"{path}.type")
        elif not is_web_search_tool(tool):
            raise UnsupportedFeatureError(f"tool type '{kind}' is not supported", param=f"{path}.type")
    return out


def _function_tool(tool: dict[str, Any], path: str) -> dict[str, Any]:
    nested = tool.get("function")
    source = nested if isinstance(nested, dict) else tool  # accept the chat shape too
    name = source.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError(f"{path}.name is missing", param=f"{path}.name")
    function: dict[str, Any] = {"name": name}
    for key in ("description", "parameters", "strict"):
        if source.get(key) is not None:
            function[key] = source[key]
    return {"type": "function", "function": function}


def _tool_choice(choice: Any) -> Any:
    if choice is None or (isinstance(choice, str) and choice in _TOOL_CHOICE_WORDS):
        return choice
    if not isinstance(choice, dict):
        raise InvalidRequestError("tool_choice must be auto, none, required or an object", param="tool_choice")
    kind = choice.get("type")
    if kind == "function":
        nested = choice.get("function")
        name = (nested if isinstance(nested, dict) else choice).get("name")
        if not isinstance(name, str) or not name:
            raise InvalidRequestError("tool_choice.name is missing", param="tool_choice.name")
        return {"type": "function", "function": {"name": name}}
    if is_web_search_tool(choice):
        return None  # the caller runs the search; the model gets its results, not a tool
    raise UnsupportedFeatureError(f"tool_choice type '{kind}' is not supported", param="tool_choice.type")


# -- sampling and output format -------------------------------------------------------------


def _sampling_params(body: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in ("temperature", "top_p"):
        if body.get(key) is not None:
            out[key] = body[key]
    if body.get("max_output_tokens") is not None:
        out["max_completion_tokens"] = body["max_output_tokens"]
    user = body.get("user") or body.get("safety_identifier")
    if user:
        out["user"] = user
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        out["reasoning_effort"] = reasoning["effort"]
    return out


def _text_params(text: Any) -> dict[str, Any]:
    if text is None:
        return {}
    if not isinstance(text, dict):
        raise InvalidRequestError("text must be an object", param="text")
    out: dict[str, Any] = {}
    response_format = _response_format(text.get("format"))
    if response_format is not None:
        out["response_format"] = response_format
    if text.get("verbosity") is not None:
        out["verbosity"] = text["verbosity"]
    return out


def _response_format(fmt: Any) -> dict[str, Any] | None:
    if fmt is None:
        return None
    if not isinstance(fmt, dict):
        raise InvalidRequestError("text.format must be an object", param="text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequestError(f"text.format.type '{kind}' is not one of text, json_object, json_schema")
    nested = fmt.get("json_schema")
    source = nested if isinstance(nested, dict) else fmt  # accept the chat shape too
    name = source.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidRequestError("text.format.name is missing", param="text.format.name")
    if not isinstance(source.get("schema"), dict):
        raise InvalidRequestError("text.format.schema must be an object", param="text.format.schema")
    schema: dict[str, Any] = {"name": name, "schema": source["schema"]}
    for key in ("description", "strict"):
        if source.get(key) is not None:
            schema[key] = source[key]
    return {"type": "json_schema", "json_schema": schema}
