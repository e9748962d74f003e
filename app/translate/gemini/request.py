"""Chat Completions request -> Gemini `generateContent` request (`chat_request_to_gemini`).

- system and developer messages -> `systemInstruction` text parts, in order, wherever they stand.
- user -> role "user", assistant -> role "model"; consecutive contents of one role are merged, so
  a model turn of parallel functionCalls pairs with one user turn of functionResponses. Empty text
  parts, and messages left with no parts, are dropped: Gemini rejects both.
- parts: text; image_url with a data: URL -> inlineData, with an http(s) URL -> fileData (mime
  type from the path's extension, else "image/*"); input_audio -> inlineData audio/<format>; file
  with a data: URL in file_data -> inlineData. file_id and other part types are unsupported.
- assistant tool_calls -> functionCall parts, arguments decoded to an object. Earlier
  reasoning_content is dropped (Gemini reads nothing from unsigned thought text). Gemini's thought
  signature cannot survive the Chat dialect, so for Gemini 3 and later the first functionCall of
  each model turn carries Google's documented `skip_thought_signature_validator` signature.
- tool messages -> functionResponse parts in a user turn, named after the latest assistant tool
  call with that id (an unknown id is an InvalidRequestError); response is {"content": output},
  the output JSON-decoded when it parses, else the string.
- tools -> [{"functionDeclarations": [...]}]; non-function tools are unsupported. tool_choice:
  auto -> AUTO, none -> NONE, required -> ANY, a named function -> ANY + allowedFunctionNames.
- JSON schemas (tool parameters, response_format json_schema) are cut to Gemini's OpenAPI subset
  by `clean_schema` (rules in app.translate.gemini.schema); a tool left without properties sends
  no parameters.
- generationConfig: temperature, top_p -> topP, top_k -> topK, max_completion_tokens (else
  max_tokens) -> maxOutputTokens, stop -> stopSequences, n -> candidateCount, seed,
  presence_penalty, frequency_penalty; response_format json_schema -> responseMimeType
  "application/json" + responseSchema, json_object -> responseMimeType alone. reasoning_effort ->
  thinkingConfig {thinkingBudget: minimal 512, low 1024, medium 8192, high/xhigh 24576,
  includeThoughts: true}; "none" -> {thinkingBudget: 0}.
- UnsupportedFeatureError (400): logprobs, top_logprobs, logit_bias, audio output, prediction,
  web_search_options. Ignored, having no Gemini meaning: user, metadata, store, service_tier,
  parallel_tool_calls, stream, stream_options and other bookkeeping fields.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any
from urllib.parse import unquote, urlparse

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.translate.chat_parts import function_tools, part_texts, tool_arguments
from app.translate.gemini.schema import clean_schema

__all__ = ["chat_request_to_gemini"]

Json = dict[str, Any]

_UNSUPPORTED_IF_SET = ("logprobs", "top_logprobs", "logit_bias")  # false, 0 and {} ask for nothing
_UNSUPPORTED_IF_PRESENT = ("audio", "prediction", "web_search_options")  # {} already asks for web search
_GENERATION = (
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("top_k", "topK"),
    ("n", "candidateCount"),
    ("seed", "seed"),
    ("presence_penalty", "presencePenalty"),
    ("frequency_penalty", "frequencyPenalty"),
)
_EFFORT_BUDGET = {"minimal": 512, "low": 1024, "medium": 8192, "high": 24576, "xhigh": 24576}
_TOOL_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_MIME_BY_EXT = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "pdf": "application/pdf"} | {
    ext: f"image/{ext}" for ext in ("png", "webp", "gif", "heic", "heif")
}
_SKIP_SIGNATURE = "skip_thought_signature_validator"
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


def unsupported(feature: str, param: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"{feature} is not supported by Gemini upstreams", param=param)


def invalid(message: str, param: str = "messages") -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def chat_request_to_gemini(body: Json, model: str) -> Json:
    """An OpenAI chat request as a Gemini `generateContent` body (choices in the module docstring)."""
    for key in _UNSUPPORTED_IF_SET:
        if body.get(key):
            raise unsupported(key, key)
    for key in _UNSUPPORTED_IF_PRESENT:
        if body.get(key) is not None:
            raise unsupported(key, key)
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise unsupported("audio output", "modalities")
    system, contents = _contents(body.get("messages"), model)
    out: Json = {"contents": contents}
    if system:
        out["systemInstruction"] = {"parts": system}
    tools = _tools(body.get("tools"))
    if tools:
        out["tools"] = tools
    tool_config = _tool_config(body.get("tool_choice"))
    if tool_config:
        out["toolConfig"] = tool_config
    config = _generation_config(body)
    if config:
        out["generationConfig"] = config
    return out


def _contents(messages: Any, model: str) -> tuple[list[Json], list[Json]]:
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list")
    system: list[Json] = []
    contents: list[Json] = []
    names: dict[str, str] = {}  # tool call id -> function name, latest call wins
    for message in messages:
        if not isinstance(message, dict):
            raise invalid("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content")))
        elif role == "user":
            _append(contents, "user", _user_parts(message.get("content")))
        elif role == "assistant":
            _append(contents, "model", _assistant_parts(message, names))
        elif role == "tool":
            _append(contents, "user", [_function_response(message, names)])
        else:
            raise invalid(f"message role {role!r} cannot be sent to Gemini")
    match = _GEMINI_MAJOR.search(model)
    if match and int(match.group(1)) >= 3:
        _sign_function_calls(contents)
    return system, contents


def _append(contents: list[Json], role: str, parts: list[Json]) -> None:
    if not parts:
        return
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        return []
    return part_texts(content, unsupported)


def _text_parts(content: Any) -> list[Json]:
    return [{"text": text} for text in _texts(content) if text]


def _user_parts(content: Any) -> list[Json]:
    if not isinstance(content, list):
        return _text_parts(content)
    parts: list[Json] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            if part.get("text"):
                parts.append({"text": str(part["text"])})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            parts.append(_media(str(url or ""), "image/*"))
        elif kind == "input_audio":
            audio = part.get("input_audio") or {}
            mime = f"audio/{audio.get('format') or 'wav'}"
            parts.append({"inlineData": {"mimeType": mime, "data": str(audio.get("data") or "")}})
        elif kind == "file":
            file = part.get("file") or {}
            if not str(file.get("file_data") or "").startswith("data:"):
                raise unsupported("file inputs without inline file_data", "messages")
            parts.append(_media(str(file["file_data"]), "application/octet-stream"))
        else:
            raise unsupported(f"content part {kind!r}", "messages")
    return parts


def _media(url: str, fallback_mime: str) -> Json:
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        data = payload if encoding.endswith("base64") else base64.b64encode(unquote(payload).encode()).decode()
        return {"inlineData": {"mimeType": mime or fallback_mime, "data": data}}
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "gs"):
        raise invalid(f"media URL {url[:40]!r} is neither a data: URL nor an http(s) URL")
    ext = parsed.path.rsplit(".", 1)[-1].lower() if "." in parsed.path else ""
    return {"fileData": {"mimeType": _MIME_BY_EXT.get(ext, fallback_mime), "fileUri": url}}


def _assistant_parts(message: Json, names: dict[str, str]) -> list[Json]:
    parts = _text_parts(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise invalid("assistant tool_calls need a function with a name")
        names[str(call.get("id"))] = str(function["name"])
        args = tool_arguments(function.get("arguments"))
        parts.append({"functionCall": {"name": str(function["name"]), "args": args}})
    return parts


def _function_response(message: Json, names: dict[str, str]) -> Json:
    call_id = str(message.get("tool_call_id"))
    name = names.get(call_id)
    if name is None:
        raise invalid(f"tool message {call_id!r} answers no earlier assistant tool call")
    output = "".join(_texts(message.get("content")))
    try:
        value: Any = json.loads(output)
    except ValueError:
        value = output
    return {"functionResponse": {"name": name, "response": {"content": value}}}


def _sign_function_calls(contents: list[Json]) -> None:
    for content in contents:
        if content["role"] != "model":
            continue
        for part in content["parts"]:
            if "functionCall" in part:
                part.setdefault("thoughtSignature", _SKIP_SIGNATURE)
                break


def _tools(tools: Any) -> list[Json]:
    declarations: list[Json] = []
    for function in function_tools(tools, unsupported):
        declaration: Json = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = clean_schema(function.get("parameters"))
        if parameters.get("properties"):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}] if declarations else []


def _tool_config(choice: Any) -> Json | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and function.get("name"):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [function["name"]]}}
    raise unsupported(f"tool_choice {choice!r}", "tool_choice")


def _generation_config(body: Json) -> Json:
    config: Json = {dst: body[src] for src, dst in _GENERATION if body.get(src) is not None}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxOutputTokens"] = max_tokens
    stop = body.get("stop")
    if stop:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    config.update(_response_format(body.get("response_format")))
    effort = body.get("reasoning_effort")
    if effort == "none":
        config["thinkingConfig"] = {"thinkingBudget": 0}
    elif effort is not None:
        if effort not in _EFFORT_BUDGET:
            raise invalid(f"reasoning_effort {effort!r} is not one of {sorted(_EFFORT_BUDGET)}", "reasoning_effort")
        config["thinkingConfig"] = {"thinkingBudget": _EFFORT_BUDGET[effort], "includeThoughts": True}
    return config


def _response_format(fmt: Any) -> Json:
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind in (None, "text"):
        return {}
    if kind == "json_object":
        return {"responseMimeType": "application/json"}
    if kind == "json_schema":
        spec = fmt.get("json_schema") if isinstance(fmt, dict) else None
        schema = clean_schema(spec.get("schema") if isinstance(spec, dict) else None)
        return {"responseMimeType": "application/json", **({"responseSchema": schema} if schema else {})}
    raise unsupported(f"response_format {kind!r}", "response_format")
