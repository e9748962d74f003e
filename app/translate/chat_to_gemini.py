"""Chat Completions clients on a Gemini upstream: requests, responses, streams and embeddings.

Requests (`chat_request_to_gemini`):

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
  (`_SCHEMA_KEYS`): $ref is inlined from $defs/definitions, allOf merged, oneOf becomes anyOf,
  const becomes enum, a type list becomes type + nullable (anyOf for several types), and formats
  Gemini lacks are dropped. Every other key is dropped, notably additionalProperties, $schema,
  $id, $defs, definitions, strict, examples, patternProperties, not and if/then/else. An empty
  `properties` is removed (Gemini rejects it); a tool left without properties sends no parameters;
  properties/required stay on objects only, and required keeps only the names properties define.
- generationConfig: temperature, top_p -> topP, top_k -> topK, max_completion_tokens (else
  max_tokens) -> maxOutputTokens, stop -> stopSequences, n -> candidateCount, seed,
  presence_penalty, frequency_penalty; response_format json_schema -> responseMimeType
  "application/json" + responseSchema, json_object -> responseMimeType alone. reasoning_effort ->
  thinkingConfig {thinkingBudget: minimal 512, low 1024, medium 8192, high/xhigh 24576,
  includeThoughts: true}; "none" -> {thinkingBudget: 0}.
- UnsupportedFeatureError (400): logprobs, top_logprobs, logit_bias, audio output, prediction,
  web_search_options. Ignored, having no Gemini meaning: user, metadata, store, service_tier,
  parallel_tool_calls, stream, stream_options and other bookkeeping fields.

Responses (`gemini_response_to_chat`, `GeminiToChatStream`): candidates -> choices; text parts are
joined into content, `thought: true` parts into reasoning_content, functionCall parts become
tool_calls (the upstream id, else `call_<n>` counting calls in the choice; arguments as JSON);
other parts (executable code, inline data) are dropped. finishReason: STOP -> stop (tool_calls when
the choice called a tool), MAX_TOKENS -> length, the safety family -> content_filter, anything
else -> stop. A prompt blocked by promptFeedback gives one empty choice with content_filter.
Usage: prompt = promptTokenCount + toolUsePromptTokenCount, completion = candidatesTokenCount +
thoughtsTokenCount, with cached and reasoning tokens in the details. Stream fragments repeat
usageMetadata cumulatively, so the last one wins; an `{"error"}` payload mid-stream is kept in
`GeminiToChatStream.error` for the caller to turn into its error event.

Embeddings go to batchEmbedContents, one request per input string; token-array inputs are
unsupported; base64 output is encoded here (float32, little-endian, as OpenAI does).
"""

from __future__ import annotations

import base64
import json
import re
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlparse

from app.errors import InvalidRequestError, UnsupportedFeatureError

__all__ = [
    "GeminiToChatStream",
    "chat_embeddings_to_gemini",
    "chat_request_to_gemini",
    "chat_usage_from_gemini",
    "clean_schema",
    "gemini_embeddings_to_openai",
    "gemini_response_to_chat",
]

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
_SCHEMA_WORDS = (  # Gemini's Schema fields (OpenAPI 3.0 subset); "format" is filtered separately
    "type title description nullable enum default example items properties required propertyOrdering anyOf "
    "minItems maxItems minProperties maxProperties minLength maxLength pattern minimum maximum"
)
_SCHEMA_KEYS = frozenset(_SCHEMA_WORDS.split())
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_SCHEMA_DEPTH = 24
_MIME_BY_EXT = {"jpg": "image/jpeg", "jpeg": "image/jpeg", "pdf": "application/pdf"} | {
    ext: f"image/{ext}" for ext in ("png", "webp", "gif", "heic", "heif")
}
_FILTERED_WORDS = "SAFETY RECITATION BLOCKLIST PROHIBITED_CONTENT SPII IMAGE_SAFETY IMAGE_PROHIBITED_CONTENT"
_FILTERED = frozenset(_FILTERED_WORDS.split())
_SKIP_SIGNATURE = "skip_thought_signature_validator"
_GEMINI_MAJOR = re.compile(r"gemini-(\d+)")


def _unsupported(feature: str, param: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"{feature} is not supported by Gemini upstreams", param=param)


def _invalid(message: str, param: str = "messages") -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


# -- requests ---------------------------------------------------------------------------------


def chat_request_to_gemini(body: Json, model: str) -> Json:
    """An OpenAI chat request as a Gemini `generateContent` body (choices in the module docstring)."""
    for key in _UNSUPPORTED_IF_SET:
        if body.get(key):
            raise _unsupported(key, key)
    for key in _UNSUPPORTED_IF_PRESENT:
        if body.get(key) is not None:
            raise _unsupported(key, key)
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise _unsupported("audio output", "modalities")
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
        raise _invalid("messages must be a non-empty list")
    system: list[Json] = []
    contents: list[Json] = []
    names: dict[str, str] = {}  # tool call id -> function name, latest call wins
    for message in messages:
        if not isinstance(message, dict):
            raise _invalid("each message must be an object")
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
            raise _invalid(f"message role {role!r} cannot be sent to Gemini")
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
    out: list[str] = []
    for part in content:
        if isinstance(part, str):
            out.append(part)
        elif isinstance(part, dict) and part.get("type") in ("text", "refusal"):
            out.append(str(part.get("text") or part.get("refusal") or ""))
        else:
            kind = part.get("type") if isinstance(part, dict) else type(part).__name__
            raise _unsupported(f"content part {kind!r} in this message role", "messages")
    return out


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
                raise _unsupported("file inputs without inline file_data", "messages")
            parts.append(_media(str(file["file_data"]), "application/octet-stream"))
        else:
            raise _unsupported(f"content part {kind!r}", "messages")
    return parts


def _media(url: str, fallback_mime: str) -> Json:
    if url.startswith("data:"):
        header, _, payload = url[5:].partition(",")
        mime, _, encoding = header.partition(";")
        data = payload if encoding.endswith("base64") else base64.b64encode(unquote(payload).encode()).decode()
        return {"inlineData": {"mimeType": mime or fallback_mime, "data": data}}
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https", "gs"):
        raise _invalid(f"media URL {url[:40]!r} is neither a data: URL nor an http(s) URL")
    ext = parsed.path.rsplit(".", 1)[-1].lower() if "." in parsed.path else ""
    return {"fileData": {"mimeType": _MIME_BY_EXT.get(ext, fallback_mime), "fileUri": url}}


def _assistant_parts(message: Json, names: dict[str, str]) -> list[Json]:
    parts = _text_parts(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise _invalid("assistant tool_calls need a function with a name")
        names[str(call.get("id"))] = str(function["name"])
        args = _arguments(function.get("arguments"))
        parts.append({"functionCall": {"name": str(function["name"]), "args": args}})
    return parts


def _arguments(raw: Any) -> Json:
    if isinstance(raw, dict):
        return raw
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        raise _invalid("tool call arguments must be a JSON object") from None
    if not isinstance(value, dict):
        raise _invalid("tool call arguments must be a JSON object")
    return value


def _function_response(message: Json, names: dict[str, str]) -> Json:
    call_id = str(message.get("tool_call_id"))
    name = names.get(call_id)
    if name is None:
        raise _invalid(f"tool message {call_id!r} answers no earlier assistant tool call")
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
    if not tools:
        return []
    declarations: list[Json] = []
    for tool in tools if isinstance(tools, list) else [tools]:
        kind = tool.get("type") if isinstance(tool, dict) else None
        function = tool.get("function") if isinstance(tool, dict) else None
        if kind != "function" or not isinstance(function, dict):
            raise _unsupported(f"tool type {kind!r}", "tools")
        if not function.get("name"):
            raise _invalid("every function tool needs a name", "tools")
        declaration: Json = {"name": function["name"]}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = clean_schema(function.get("parameters"))
        if parameters.get("properties"):
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def _tool_config(choice: Any) -> Json | None:
    if choice is None:
        return None
    if isinstance(choice, str) and choice in _TOOL_MODES:
        return {"functionCallingConfig": {"mode": _TOOL_MODES[choice]}}
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and function.get("name"):
        return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [function["name"]]}}
    raise _unsupported(f"tool_choice {choice!r}", "tool_choice")


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
            raise _invalid(f"reasoning_effort {effort!r} is not one of {sorted(_EFFORT_BUDGET)}", "reasoning_effort")
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
    raise _unsupported(f"response_format {kind!r}", "response_format")


def clean_schema(schema: Any) -> Json:
    """A JSON schema cut to the OpenAPI subset Gemini accepts (rules in the module docstring)."""
    if not isinstance(schema, dict):
        return {}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _clean(schema, defs, 0)


def _clean(schema: Any, defs: Json, depth: int) -> Json:
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _clean({**defs.get(ref.rsplit("/", 1)[-1], {}), **rest}, defs, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: Json = {}
        for sub in schema["allOf"]:
            merged.update(_clean(sub, defs, depth + 1))
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return {**merged, **_clean(rest, defs, depth + 1)}
    out: Json = {}
    for key, value in schema.items():
        _clean_key(out, key, value, defs, depth + 1)
    return _object_rules(out)


def _object_rules(out: Json) -> Json:
    """Gemini allows properties/required on OBJECT only, and only names its properties define."""
    if "properties" in out and "type" not in out and "anyOf" not in out:
        out["type"] = "object"
    if str(out.get("type", "object")).lower() != "object":
        out.pop("properties", None)
        out.pop("required", None)
    required = out.pop("required", None)
    names = out.get("properties") or {}
    kept = [name for name in required if name in names] if isinstance(required, list) else []
    if kept:
        out["required"] = kept
    return out


def _clean_key(out: Json, key: str, value: Any, defs: Json, depth: int) -> None:
    if key in ("anyOf", "oneOf") and isinstance(value, list):
        _any_of(out, [_clean(v, defs, depth) for v in value])
    elif key == "const":
        out["enum"] = [value]
    elif key == "type" and isinstance(value, list):
        _type_list(out, [str(t) for t in value])
    elif key == "properties" and isinstance(value, dict):
        if value:
            out["properties"] = {name: _clean(sub, defs, depth) for name, sub in value.items()}
    elif key == "items":
        out["items"] = _clean(value, defs, depth)
    elif key == "format":
        if value in _FORMATS:
            out["format"] = value
    elif key in _SCHEMA_KEYS:
        out[key] = value


def _any_of(out: Json, options: list[Json]) -> None:
    solid = [o for o in options if o.get("type") != "null"]
    if len(solid) == 1 and len(options) == 2:  # Optional[X] -> X, nullable
        for key, value in solid[0].items():
            out.setdefault(key, value)
        out["nullable"] = True
    else:
        out["anyOf"] = options


def _type_list(out: Json, types: list[str]) -> None:
    solid = [t for t in types if t != "null"]
    if len(solid) < len(types):
        out["nullable"] = True
    if len(solid) == 1:
        out["type"] = solid[0]
    elif solid:
        out["anyOf"] = [{"type": t} for t in solid]


# -- responses --------------------------------------------------------------------------------


def chat_usage_from_gemini(meta: Any) -> Json:
    """Gemini usageMetadata as an OpenAI usage object (zeros when absent)."""
    meta = meta if isinstance(meta, dict) else {}
    prompt = int(meta.get("promptTokenCount") or 0) + int(meta.get("toolUsePromptTokenCount") or 0)
    thoughts = int(meta.get("thoughtsTokenCount") or 0)
    completion = int(meta.get("candidatesTokenCount") or 0) + thoughts
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": int(meta.get("cachedContentTokenCount") or 0)},
        "completion_tokens_details": {"reasoning_tokens": thoughts},
    }


def _finish_reason(reason: Any, called_tools: bool) -> str:
    if reason == "MAX_TOKENS":
        return "length"
    if reason in _FILTERED:
        return "content_filter"
    return "tool_calls" if called_tools else "stop"


def _tool_call(call: Json, n: int) -> Json:
    call_id = call.get("id") if isinstance(call.get("id"), str) and call.get("id") else f"call_{n}"
    arguments = json.dumps(call.get("args") or {}, ensure_ascii=False, separators=(",", ":"))
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": str(call.get("name") or ""), "arguments": arguments},
    }


def _pieces(candidate: Json) -> list[tuple[str, Any]]:
    """The candidate's parts as ("call", functionCall) / ("thought", text) / ("text", text), in order."""
    content = candidate.get("content")
    parts = content.get("parts") if isinstance(content, dict) else None
    out: list[tuple[str, Any]] = []
    for part in parts if isinstance(parts, list) else []:
        if not isinstance(part, dict):
            continue
        if isinstance(part.get("functionCall"), dict):
            out.append(("call", part["functionCall"]))
        elif isinstance(part.get("text"), str) and part["text"]:
            out.append(("thought" if part.get("thought") else "text", part["text"]))
    return out


def _completion_id(doc: Json) -> str:
    response_id = doc.get("responseId")
    return "chatcmpl-" + (response_id if isinstance(response_id, str) and response_id else uuid.uuid4().hex)


def _blocked(doc: Json) -> bool:
    feedback = doc.get("promptFeedback")
    return isinstance(feedback, dict) and bool(feedback.get("blockReason"))


def _choice(candidate: Json, position: int) -> Json:
    texts: list[str] = []
    thoughts: list[str] = []
    calls: list[Json] = []
    for kind, value in _pieces(candidate):
        if kind == "call":
            calls.append(_tool_call(value, len(calls)))
        else:
            (thoughts if kind == "thought" else texts).append(value)
    content = "".join(texts) if texts or not calls else None
    message: Json = {"role": "assistant", "content": content, "refusal": None}
    if thoughts:
        message["reasoning_content"] = "".join(thoughts)
    if calls:
        message["tool_calls"] = calls
    finish = _finish_reason(candidate.get("finishReason"), bool(calls))
    return {
        "index": int(candidate.get("index", position)),
        "message": message,
        "logprobs": None,
        "finish_reason": finish,
    }


def gemini_response_to_chat(resp: Json, public_model: str, *, created: int | None = None) -> Json:
    """A generateContent response as an OpenAI chat.completion."""
    candidates = [c for c in resp.get("candidates") or [] if isinstance(c, dict)]
    choices = [_choice(c, i) for i, c in enumerate(candidates)]
    if not choices and _blocked(resp):
        message = {"role": "assistant", "content": "", "refusal": None}
        choices = [{"index": 0, "message": message, "logprobs": None, "finish_reason": "content_filter"}]
    return {
        "id": _completion_id(resp),
        "object": "chat.completion",
        "created": int(time.time()) if created is None else created,
        "model": public_model,
        "choices": choices,
        "usage": chat_usage_from_gemini(resp.get("usageMetadata")),
    }


@dataclass(slots=True)
class _ChoiceState:
    calls: int = 0
    finish: str | None = None


class GeminiToChatStream:
    """streamGenerateContent?alt=sse fragments in, chat.completion.chunk dicts out, one fragment at a time."""

    def __init__(self, *, public_model: str, created: int | None = None) -> None:
        self.public_model = public_model
        self.created = int(time.time()) if created is None else created
        self.id: str | None = None
        self.done = False
        """A finishReason (or a prompt block) was seen for every choice."""
        self.usage: Json | None = None
        """The latest usageMetadata, OpenAI-shaped."""
        self.finish_reason: str | None = None
        self.error: Json | None = None
        """An `{"error": {...}}` payload the upstream sent mid-stream; the caller decides what to emit."""
        self._choices: dict[int, _ChoiceState] = {}
        self._text: list[str] = []

    @property
    def text(self) -> str:
        """The content streamed so far for choice 0."""
        return "".join(self._text)

    def feed(self, data: Json) -> list[Json]:
        """One decoded `data:` payload -> the chunks it yields."""
        if isinstance(data.get("error"), dict):
            self.error = data["error"]
            return []
        if self.id is None:
            self.id = _completion_id(data)
        if isinstance(data.get("usageMetadata"), dict):
            self.usage = chat_usage_from_gemini(data["usageMetadata"])
        candidates = [c for c in data.get("candidates") or [] if isinstance(c, dict)]
        if not candidates and _blocked(data):
            return self._candidate({"finishReason": "SAFETY"}, 0)
        out: list[Json] = []
        for position, candidate in enumerate(candidates):
            out.extend(self._candidate(candidate, position))
        return out

    def finish(self) -> list[Json]:
        """The closing usage chunk; call once the upstream body has ended."""
        usage = self.usage or chat_usage_from_gemini(None)
        return [{**self._base(), "choices": [], "usage": usage}]

    def _base(self) -> Json:
        if self.id is None:
            self.id = _completion_id({})
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created, "model": self.public_model}

    def _chunk(self, index: int, delta: Json, finish: str | None = None) -> Json:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**self._base(), "choices": [choice]}

    def _candidate(self, candidate: Json, position: int) -> list[Json]:
        index = int(candidate.get("index", position))
        state = self._choices.get(index)
        out: list[Json] = []
        if state is None:
            state = self._choices[index] = _ChoiceState()
            out.append(self._chunk(index, {"role": "assistant", "content": ""}))
        for kind, value in _pieces(candidate):
            if kind == "call":
                call = {"index": state.calls, **_tool_call(value, state.calls)}
                state.calls += 1
                out.append(self._chunk(index, {"tool_calls": [call]}))
            elif kind == "thought":
                out.append(self._chunk(index, {"reasoning_content": value}))
            else:
                if index == 0:
                    self._text.append(value)
                out.append(self._chunk(index, {"content": value}))
        if candidate.get("finishReason") and state.finish is None:
            state.finish = _finish_reason(candidate["finishReason"], state.calls > 0)
            out.append(self._chunk(index, {}, state.finish))
            if self.finish_reason is None or index == 0:
                self.finish_reason = state.finish
            self.done = all(s.finish is not None for s in self._choices.values())
        return out


# -- embeddings -------------------------------------------------------------------------------


def chat_embeddings_to_gemini(body: Json, model: str) -> Json:
    """An OpenAI /v1/embeddings request as a Gemini batchEmbedContents body."""
    value = body.get("input")
    texts = [value] if isinstance(value, str) else value
    if not isinstance(texts, list) or not texts:
        raise _invalid("input must be a string or a non-empty list of strings", "input")
    if not all(isinstance(t, str) for t in texts):
        raise _unsupported("token-array embedding input", "input")
    name = model if "/" in model else f"models/{model}"
    extra = {"outputDimensionality": body["dimensions"]} if body.get("dimensions") is not None else {}
    return {"requests": [{"model": name, "content": {"parts": [{"text": t}]}, **extra} for t in texts]}


def gemini_embeddings_to_openai(
    resp: Json, public_model: str, input_tokens: int, *, encoding_format: str = "float"
) -> Json:
    """A batchEmbedContents response as an OpenAI embeddings list (base64 when the client asked)."""
    data: list[Json] = []
    for index, item in enumerate(resp.get("embeddings") or []):
        values = [float(v) for v in (item.get("values") if isinstance(item, dict) else None) or []]
        embedding: Any = values
        if encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(values)}f", *values)).decode()
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    usage = {"prompt_tokens": input_tokens, "total_tokens": input_tokens}
    return {"object": "list", "data": data, "model": public_model, "usage": usage}
