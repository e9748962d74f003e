"""Chat Completions request -> Bedrock Converse request (`chat_request_to_converse`).

The model id travels in the URL (`/model/{modelId}/converse[-stream]`), so the body never carries
`model` or `stream`: Bedrock rejects both as extraneous keys.

- system and developer messages -> top-level `system: [{"text"}]`, one block per message (its text
  parts concatenated), in order, wherever they stand; blank ones are dropped.
- user -> role "user", assistant -> role "assistant"; consecutive messages of one role are merged
  (Converse wants strict alternation). The first turn must be a user's: a conversation the assistant
  opens is an InvalidRequestError, as is one with no user or assistant turn at all. Empty text
  blocks, and messages left with no blocks, are dropped: Converse rejects blank text.
- content parts: text (and refusal, in assistant history) -> `{"text"}`; image_url with a
  `data:image/<fmt>;base64,` URL -> `{"image": {"format", "source": {"bytes"}}}`, the base64 kept as
  given (Bedrock's JSON protocol carries blobs base64-encoded), jpg read as jpeg, formats png, jpeg,
  gif and webp only; an http(s) image URL is unsupported (Converse takes bytes or S3 only); file with
  a data: URL in file_data -> `{"document": {"format", "name": "document-<n>", "source": {"bytes"}}}`
  for pdf, and also for the other formats Converse documents (csv, doc, docx, xls, xlsx, html, txt,
  md), n counting documents in the request so names stay unique. file_id, input_audio and any other
  part type are unsupported.
- assistant tool_calls -> `{"toolUse": {"toolUseId", "name", "input"}}` blocks after the text,
  arguments decoded to an object ("" counts as {}; anything else is an InvalidRequestError).
  reasoning_content on earlier assistant messages is dropped: Converse only takes back reasoning
  with the model's signature, which the Chat dialect cannot carry.
- tool messages -> `{"toolResult": {"toolUseId": tool_call_id, "content": [{"text": output}]}}` in a
  user turn, the output being the message's text parts concatenated; they merge with neighbouring tool
  messages and the following user message into one user turn, toolResult blocks first.
- tools -> `toolConfig.tools[].toolSpec {name, description (if given), inputSchema.json}` (parameters,
  else an empty object schema); non-function tools and legacy `functions` are unsupported. tool_choice:
  auto -> {"auto": {}}, required -> {"any": {}}, a named function -> {"tool": {"name"}}, none -> no
  toolConfig. Bedrock refuses toolUse/toolResult blocks without a toolConfig, so when the history
  holds any: tool_choice none keeps the tools (without toolChoice), and a request without tools gets a
  synthesized toolSpec (`{"type": "object"}` schema) for every tool name its history uses.
- inferenceConfig: maxTokens from max_completion_tokens (else max_tokens), temperature, topP from
  top_p, stopSequences from stop (a string or a list); omitted when empty.
- top_k -> `additionalModelRequestFields: {"top_k": n}`, the key Claude, Mistral and Cohere models read
  (a model family that reads another key gets Bedrock's own error).
- reasoning_effort is unsupported: Converse has no common reasoning field; each family takes its own
  shape in additionalModelRequestFields (Claude `thinking.budget_tokens`, Nova `reasoningConfig`,
  DeepSeek-R1 always reasons), and the translator does not know the model family.
- UnsupportedFeatureError (400, naming the feature and Bedrock Converse): n > 1, logprobs and
  top_logprobs (when truthy), logit_bias (when non-empty), response_format json_schema / json_object
  (Converse has no JSON mode), audio output (`modalities` with audio, or `audio`), prediction,
  web_search_options. Ignored, having no Converse meaning: seed, presence_penalty, frequency_penalty,
  user, metadata, store, service_tier, parallel_tool_calls, stream, stream_options,
  safety_identifier, prompt_cache_key, verbosity and other bookkeeping fields.
- `messages` missing, empty or not a list, or a message that is not an object, is an
  InvalidRequestError with param "messages".
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote, urlparse

from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.translate.chat_parts import function_tools, part_texts, tool_arguments

__all__ = ["chat_request_to_converse"]

Json = dict[str, Any]

_UNSUPPORTED_IF_SET = ("logprobs", "top_logprobs", "logit_bias", "reasoning_effort", "functions", "function_call")
_UNSUPPORTED_IF_PRESENT = ("audio", "prediction", "web_search_options")
_IMAGE_FORMATS = {"png": "png", "jpeg": "jpeg", "jpg": "jpeg", "gif": "gif", "webp": "webp"}
_DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
_TOOL_CHOICES: dict[str, Json] = {"auto": {"auto": {}}, "required": {"any": {}}}


def unsupported(feature: str, param: str | None = None) -> UnsupportedFeatureError:
    return UnsupportedFeatureError(f"{feature} is not supported by Bedrock Converse upstreams", param=param)


def invalid(message: str, param: str = "messages") -> InvalidRequestError:
    return InvalidRequestError(message, param=param)


def chat_request_to_converse(body: Json) -> Json:
    """An OpenAI chat request as a Converse body (choices in the module docstring); the model goes in the URL."""
    _refuse_unsupported(body)
    system, messages = _messages(body.get("messages"))
    out: Json = {"messages": messages}
    if system:
        out["system"] = system
    tool_config = _tool_config(body.get("tools"), body.get("tool_choice"), _tool_names_used(messages))
    if tool_config:
        out["toolConfig"] = tool_config
    inference = _inference_config(body)
    if inference:
        out["inferenceConfig"] = inference
    if body.get("top_k") is not None:
        out["additionalModelRequestFields"] = {"top_k": body["top_k"]}
    return out


def _refuse_unsupported(body: Json) -> None:
    for key in _UNSUPPORTED_IF_SET:
        if body.get(key):
            raise unsupported(key, key)
    for key in _UNSUPPORTED_IF_PRESENT:
        if body.get(key) is not None:
            raise unsupported(key, key)
    n = body.get("n")
    if n is not None and n != 1:
        raise unsupported("n other than 1", "n")
    modalities = body.get("modalities")
    if isinstance(modalities, list) and "audio" in modalities:
        raise unsupported("audio output", "modalities")
    fmt = body.get("response_format")
    kind = fmt.get("type") if isinstance(fmt, dict) else None
    if kind not in (None, "text"):
        raise unsupported(f"response_format {kind!r}", "response_format")


# -- messages ------------------------------------------------------------------------------------------


def _messages(messages: Any) -> tuple[list[Json], list[Json]]:
    if not isinstance(messages, list) or not messages:
        raise invalid("messages must be a non-empty list")
    system: list[Json] = []
    turns: list[Json] = []
    documents = [0]  # documents seen so far, for unique names
    for message in messages:
        if not isinstance(message, dict):
            raise invalid("each message must be an object")
        role = message.get("role")
        if role in ("system", "developer"):
            text = "".join(_texts(message.get("content")))
            if text.strip():
                system.append({"text": text})
        elif role == "user":
            _append(turns, "user", _user_blocks(message.get("content"), documents))
        elif role == "assistant":
            _append(turns, "assistant", _assistant_blocks(message))
        elif role == "tool":
            _append(turns, "user", [_tool_result(message)])
        else:
            raise invalid(f"message role {role!r} cannot be sent to Bedrock Converse")
    if not turns:
        raise invalid("messages must hold at least one user message")
    if turns[0]["role"] != "user":
        raise invalid("Bedrock Converse conversations must start with a user message, not an assistant one")
    return system, turns


def _append(turns: list[Json], role: str, blocks: list[Json]) -> None:
    if not blocks:
        return
    if not turns or turns[-1]["role"] != role:
        turns.append({"role": role, "content": blocks})
        return
    content: list[Json] = turns[-1]["content"]
    for block in blocks:
        if "toolResult" in block:  # results go before the turn's other blocks, after earlier results
            content.insert(sum(1 for b in content if "toolResult" in b), block)
        else:
            content.append(block)


def _texts(content: Any) -> list[str]:
    if content is None:
        return []
    if isinstance(content, str):
        return [content]
    if not isinstance(content, list):
        raise invalid("message content must be a string or a list of parts")
    return part_texts(content, unsupported)


def _text_blocks(content: Any) -> list[Json]:
    return [{"text": text} for text in _texts(content) if text.strip()]


def _user_blocks(content: Any, documents: list[int]) -> list[Json]:
    if not isinstance(content, list):
        return _text_blocks(content)
    blocks: list[Json] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if isinstance(part, str) or kind == "text":
            text = part if isinstance(part, str) else str(part.get("text") or "")
            if text.strip():
                blocks.append({"text": text})
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            blocks.append(_image(str(url or "")))
        elif kind == "file":
            documents[0] += 1
            blocks.append(_document(part.get("file"), documents[0]))
        else:
            raise unsupported(f"content part {kind!r}", "messages")
    return blocks


def _data_url(url: str) -> tuple[str, str]:
    """A data: URL's media type and base64 payload (a percent-encoded payload is base64-encoded)."""
    header, _, payload = url[5:].partition(",")
    mime, _, encoding = header.partition(";")
    data = payload if encoding.endswith("base64") else base64.b64encode(unquote(payload).encode()).decode()
    return mime.lower(), data


def _image(url: str) -> Json:
    if not url.startswith("data:"):
        if urlparse(url).scheme in ("http", "https"):
            raise unsupported("image URLs (Converse takes inline base64 images only)", "messages")
        raise invalid(f"image URL {url[:40]!r} is neither a data: URL nor an http(s) URL")
    mime, data = _data_url(url)
    kind, _, subtype = mime.partition("/")
    if kind != "image" or subtype not in _IMAGE_FORMATS:
        raise unsupported(f"image type {mime!r} (png, jpeg, gif and webp are)", "messages")
    return {"image": {"format": _IMAGE_FORMATS[subtype], "source": {"bytes": data}}}


def _document(file: Any, n: int) -> Json:
    file_data = str(file.get("file_data") or "") if isinstance(file, dict) else ""
    if not file_data.startswith("data:"):
        raise unsupported("file inputs without inline file_data", "messages")
    mime, data = _data_url(file_data)
    if mime not in _DOCUMENT_FORMATS:
        raise unsupported(f"file type {mime!r}", "messages")
    return {"document": {"format": _DOCUMENT_FORMATS[mime], "name": f"document-{n}", "source": {"bytes": data}}}


def _assistant_blocks(message: Json) -> list[Json]:
    blocks = _text_blocks(message.get("content"))
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not function.get("name"):
            raise invalid("assistant tool_calls need a function with a name")
        if not call.get("id"):
            raise invalid("assistant tool_calls need an id")
        use = {
            "toolUseId": str(call["id"]),
            "name": str(function["name"]),
            "input": tool_arguments(function.get("arguments")),
        }
        blocks.append({"toolUse": use})
    return blocks


def _tool_result(message: Json) -> Json:
    call_id = message.get("tool_call_id")
    if not call_id:
        raise invalid("tool messages need a tool_call_id")
    output = "".join(_texts(message.get("content")))
    return {"toolResult": {"toolUseId": str(call_id), "content": [{"text": output}]}}


# -- tools and inference settings --------------------------------------------------------------------------


def _tool_names_used(turns: list[Json]) -> list[str] | None:
    """The tool names the history's toolUse blocks use, in order; None when it has no tool blocks at all."""
    names: list[str] = []
    found = False
    for turn in turns:
        for block in turn["content"]:
            if "toolUse" in block:
                found = True
                if block["toolUse"]["name"] not in names:
                    names.append(block["toolUse"]["name"])
            found = found or "toolResult" in block
    return names if found else None


def _tool_config(tools: Any, choice: Any, history: list[str] | None) -> Json | None:
    specs = _tool_specs(tools)
    if not specs:
        if history is None:
            return None
        return {
            "tools": [{"toolSpec": {"name": name, "inputSchema": {"json": {"type": "object"}}}} for name in history]
        }
    if choice == "none":
        return None if history is None else {"tools": specs}
    config: Json = {"tools": specs}
    if choice is None:
        return config
    if isinstance(choice, str) and choice in _TOOL_CHOICES:
        config["toolChoice"] = _TOOL_CHOICES[choice]
        return config
    function = choice.get("function") if isinstance(choice, dict) else None
    if isinstance(function, dict) and function.get("name"):
        config["toolChoice"] = {"tool": {"name": str(function["name"])}}
        return config
    raise unsupported(f"tool_choice {choice!r}", "tool_choice")


def _tool_specs(tools: Any) -> list[Json]:
    specs: list[Json] = []
    for function in function_tools(tools, unsupported):
        spec: Json = {"name": str(function["name"])}
        if function.get("description"):
            spec["description"] = str(function["description"])
        parameters = function.get("parameters")
        schema = parameters if isinstance(parameters, dict) else {"type": "object", "properties": {}}
        spec["inputSchema"] = {"json": schema}
        specs.append({"toolSpec": spec})
    return specs


def _inference_config(body: Json) -> Json:
    config: Json = {}
    max_tokens = body.get("max_completion_tokens")
    if max_tokens is None:
        max_tokens = body.get("max_tokens")
    if max_tokens is not None:
        config["maxTokens"] = max_tokens
    if body.get("temperature") is not None:
        config["temperature"] = body["temperature"]
    if body.get("top_p") is not None:
        config["topP"] = body["top_p"]
    stop = body.get("stop")
    sequences = [stop] if isinstance(stop, str) else [s for s in stop or () if s]
    if sequences:
        config["stopSequences"] = sequences
    return config
