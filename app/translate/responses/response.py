"""Chat Completions answer -> Responses objects: output items, the Response envelope, usage, stored history.

Item ids are derived from the response id and the item's output index, so a streamed answer
and the same answer in one piece produce identical objects.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "chat_response_to_responses",
    "function_call_item",
    "incomplete_reason",
    "item_id",
    "message_item",
    "reasoning_item",
    "reasoning_text",
    "refusal_part",
    "response_object",
    "response_to_history",
    "responses_usage",
    "text_part",
]

_INCOMPLETE = {"length": "max_output_tokens", "content_filter": "content_filter"}


def item_id(prefix: str, response_id: str, output_index: int) -> str:
    """`msg_<response id without resp_>_<output index>`: unique per response, same in stream and whole."""
    return f"{prefix}_{response_id.removeprefix('resp_')}_{output_index}"


def incomplete_reason(finish_reason: Any) -> str | None:
    """The Responses `incomplete_details.reason` for a chat finish reason, or None when the answer completed."""
    return _INCOMPLETE.get(finish_reason) if isinstance(finish_reason, str) else None


def reasoning_text(source: dict[str, Any]) -> str:
    """Reasoning from a chat message or delta: `reasoning_content` (DeepSeek, vLLM) or `reasoning` (OpenRouter)."""
    for key in ("reasoning_content", "reasoning"):
        value = source.get(key)
        if isinstance(value, str) and value:
            return value
    return ""


# -- output items ---------------------------------------------------------------------------


def text_part(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def refusal_part(refusal: str) -> dict[str, Any]:
    return {"type": "refusal", "refusal": refusal}


def reasoning_item(id_: str, text: str) -> dict[str, Any]:
    summary = [{"type": "summary_text", "text": text}] if text else []
    return {"id": id_, "type": "reasoning", "summary": summary}


def message_item(id_: str, content: list[dict[str, Any]], status: str) -> dict[str, Any]:
    return {"id": id_, "type": "message", "status": status, "role": "assistant", "content": content}


def function_call_item(id_: str, call_id: str, name: str, arguments: str, status: str) -> dict[str, Any]:
    return {
        "id": id_,
        "type": "function_call",
        "status": status,
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
    }


# -- the Response envelope ------------------------------------------------------------------


def responses_usage(usage: Any) -> dict[str, Any] | None:
    """Chat usage -> Responses usage (None when the upstream reported none)."""
    if not isinstance(usage, dict):
        return None
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details")
    prompt_details = prompt_details if isinstance(prompt_details, dict) else {}
    completion_details = usage.get("completion_tokens_details")
    completion_details = completion_details if isinstance(completion_details, dict) else {}
    return {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }


def response_object(
    *,
    response_id: str,
    request: dict[str, Any],
    created_at: int,
    model: Any,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None = None,
    reason: str | None = None,
    error: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A full Response object; request parameters are echoed the way OpenAI echoes them."""
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "background": bool(request.get("background")),
        "error": error,
        "incomplete_details": {"reason": reason} if reason else None,
        "instructions": request.get("instructions"),
        "max_output_tokens": request.get("max_output_tokens"),
        "max_tool_calls": request.get("max_tool_calls"),
        "metadata": request.get("metadata") or {},
        "model": model,
        "output": output,
        "parallel_tool_calls": _default(request.get("parallel_tool_calls"), True),
        "previous_response_id": request.get("previous_response_id"),
        "prompt_cache_key": request.get("prompt_cache_key"),
        "reasoning": _reasoning_echo(request.get("reasoning")),
        "safety_identifier": request.get("safety_identifier"),
        "service_tier": request.get("service_tier") or "default",
        "store": _default(request.get("store"), True),
        "temperature": _default(request.get("temperature"), 1.0),
        "text": _text_echo(request.get("text")),
        "tool_choice": _default(request.get("tool_choice"), "auto"),
        "tools": _tools_echo(request.get("tools")),
        "top_logprobs": _default(request.get("top_logprobs"), 0),
        "top_p": _default(request.get("top_p"), 1.0),
        "truncation": request.get("truncation") or "disabled",
        "usage": usage,
        "user": request.get("user"),
    }


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _default(value: Any, default: Any) -> Any:
    return default if value is None else value


def _reasoning_echo(reasoning: Any) -> dict[str, Any]:
    reasoning = reasoning if isinstance(reasoning, dict) else {}
    return {"effort": reasoning.get("effort"), "summary": reasoning.get("summary")}


def _text_echo(text: Any) -> dict[str, Any]:
    text = text if isinstance(text, dict) else {}
    return {"format": text.get("format") or {"type": "text"}, "verbosity": text.get("verbosity") or "medium"}


def _tools_echo(tools: Any) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, dict) or tool.get("type") != "function":
            out.append(tool)
            continue
        nested = tool.get("function")
        source = nested if isinstance(nested, dict) else tool
        out.append(
            {
                "type": "function",
                "name": source.get("name"),
                "description": source.get("description"),
                "parameters": source.get("parameters"),
                "strict": source.get("strict"),
            }
        )
    return out


# -- whole chat completion -> Response ------------------------------------------------------


def chat_response_to_responses(
    chat: dict[str, Any], *, response_id: str, request: dict[str, Any], created_at: int
) -> dict[str, Any]:
    """A chat.completion as a Response: reasoning, then the message, then the function calls."""
    choices = chat.get("choices")
    choice = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = _object(choice.get("message"))
    reason = incomplete_reason(choice.get("finish_reason"))
    output = _output_items(message, response_id)
    if reason and output and output[-1]["type"] != "reasoning":
        output[-1]["status"] = "incomplete"
    return response_object(
        response_id=response_id,
        request=request,
        created_at=created_at,
        model=chat.get("model") or request.get("model"),
        status="incomplete" if reason else "completed",
        output=output,
        usage=responses_usage(chat.get("usage")),
        reason=reason,
    )


def _output_items(message: dict[str, Any], response_id: str) -> list[dict[str, Any]]:
    output: list[dict[str, Any]] = []
    reasoning = reasoning_text(message)
    if reasoning:
        output.append(reasoning_item(item_id("rs", response_id, 0), reasoning))
    content: list[dict[str, Any]] = []
    text = _content_text(message.get("content"))
    if text:
        content.append(text_part(text))
    refusal = message.get("refusal")
    if isinstance(refusal, str) and refusal:
        content.append(refusal_part(refusal))
    if content:
        output.append(message_item(item_id("msg", response_id, len(output)), content, "completed"))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, dict):
            continue
        function = _object(call.get("function"))
        index = len(output)
        call_id = call.get("id") or item_id("call", response_id, index)
        name, arguments = function.get("name") or "", function.get("arguments") or ""
        output.append(function_call_item(item_id("fc", response_id, index), call_id, name, arguments, "completed"))
    return output


def _content_text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # some upstreams answer with text parts
        return "".join(p.get("text") or "" for p in content if isinstance(p, dict) and p.get("type") == "text")
    return ""


# -- history for previous_response_id -------------------------------------------------------


def response_to_history(request_chat_messages: list[dict[str, Any]], response: dict[str, Any]) -> list[dict[str, Any]]:
    """The conversation to store with a response: its chat messages minus instructions, plus its answer."""
    messages = list(request_chat_messages)
    instructions = response.get("instructions")
    if (
        messages
        and isinstance(instructions, str)
        and instructions
        and messages[0].get("role") == "system"
        and messages[0].get("content") == instructions
    ):
        messages = messages[1:]  # instructions are not carried over to the next response
    answer = _assistant_message(response.get("output") or [])
    if answer is not None:
        messages.append(answer)
    return messages


def _assistant_message(output: list[dict[str, Any]]) -> dict[str, Any] | None:
    texts: list[str] = []
    calls: list[dict[str, Any]] = []
    for item in output:
        if item.get("type") == "message":
            parts = item.get("content") or []
            texts.extend(part.get("text") or "" for part in parts if part.get("type") == "output_text")
        elif item.get("type") == "function_call":
            function = {"name": item.get("name"), "arguments": item.get("arguments") or "{}"}
            calls.append({"id": item.get("call_id"), "type": "function", "function": function})
    text = "".join(texts)
    if not text and not calls:
        return None
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if calls:
        message["tool_calls"] = calls
    return message
