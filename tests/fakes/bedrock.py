"""A fake AWS Bedrock runtime: InvokeModel and InvokeModelWithResponseStream (Anthropic Claude models), and
Converse and ConverseStream (any model id).

Routes: POST /model/{modelId}/invoke (the Anthropic Message JSON, `model` set to the model id) and
POST /model/{modelId}/invoke-with-response-stream (`application/vnd.amazon.eventstream`: each Anthropic event a
`chunk` event whose payload is `{"bytes": base64(event JSON), "p": padding}`; message_stop carries
`amazon-bedrock-invocationMetrics`; no `ping` events). Answers, SSE events and Anthropic's request rules come
from `tests.fakes.anthropic`, so the two fakes cannot drift apart.

Behaviour is picked by model id or scripted per request with `script(model_id, {...})`:

  fake-400 / fake-403 / fake-404 / fake-424 / fake-429 / fake-500 / fake-503   that status, Bedrock error shape
  fake-context               400 ValidationException "Input is too long for requested model."
  fake-stream-error          streams a few events, then a modelStreamErrorException message
  fake-stream-throttle       streams a few events, then a throttlingException message
  fake-chunks-N, fake-slow-MS, fake-stall*, fake-cut, fake-no-done, fake-tool, fake-thinking, fake-refusal
                             as in FakeAnthropic
  anything else              a deterministic text answer (e.g. `anthropic.claude-haiku-4-5-20251001-v1:0`)

Script keys: FakeAnthropic's, plus error_type (the `x-amzn-ErrorType`) and stream_exception (the mid-stream
`:exception-type`, default modelStreamErrorException).

Errors are Bedrock's: JSON `{"message": ...}` and an `x-amzn-ErrorType` header. Requests are validated as
the service does: auth first (`Authorization: Bearer <api_key>`, or SigV4 verified by recomputing the signature
with botocore for `access_key`/`secret_key`/`region`, service `bedrock`; 403 otherwise), then the body: no
`model` or `stream` key, `anthropic_version: "bedrock-2023-05-31"`, `anthropic_beta` a list of strings, then
FakeAnthropic's rules. Every parsed invocation is recorded in `calls` (as well as the raw `received`).

Converse routes, same auth, same behaviours by model id and scripts, calls recorded the same way:

  POST /model/{modelId}/converse          `{"output": {"message": {"role": "assistant", "content": [...]}},
                                          "stopReason", "usage": {inputTokens, outputTokens, totalTokens},
                                          "metrics": {"latencyMs"}}`
  POST /model/{modelId}/converse-stream   `application/vnd.amazon.eventstream`: `event` messages whose
                                          `:event-type` is messageStart, contentBlockStart (toolUse blocks only),
                                          contentBlockDelta, contentBlockStop, messageStop, metadata; payload the
                                          event's JSON plus a `p` padding member, as Bedrock sends

The body is checked by `validate_converse` (400 ValidationException, Bedrock's wording where known): top-level
keys limited to `CONVERSE_KEYS` (`model`, `stream`... are extraneous), messages non-empty and alternating from
user, content blocks with exactly one member and no blank text, image/document formats and base64 bytes,
toolUse only from the assistant and each answered by a toolResult in the next user turn (and no toolResult
without its toolUse), a toolConfig whenever tool blocks appear (toolSpec names, inputSchema.json, toolChoice
auto/any/tool naming a declared tool), inferenceConfig limited to maxTokens (int >= 1), temperature and topP
(0..1), stopSequences (non-empty strings). Answers: `tests.fakes.openai.reply_text` of the last user text
(stopSequences and maxTokens honoured: stop_sequence / max_tokens); fake-tool with a toolConfig and no
toolResult in the last turn -> one toolUse {toolUseId "tooluse_fake_1", the first tool's name, {"city":
"Paris"}} with stopReason tool_use, else "Tool results: ..."; fake-thinking puts a signed reasoningContent
block first; script key cache_read adds cacheReadInputTokens. Usage: inputTokens len(json(messages)) // 4,
outputTokens the answer's words. Streams split text into `chunks` deltas (5 by default), tool input into
3 partial-JSON deltas; fake-stream-error and the other stream behaviours work as for the invoke stream.
"""

from __future__ import annotations

import asyncio
import base64
import json
import re
import struct
import time
import uuid
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from tests.fakes import anthropic
from tests.fakes.openai import reply_text
from tests.fakes.server import FakeServer

__all__ = [
    "BEDROCK_VERSION",
    "CONVERSE_KEYS",
    "BedrockCall",
    "FakeBedrock",
    "behaviour_for",
    "chunk_message",
    "converse_answer",
    "converse_event",
    "converse_stream_events",
    "encode_header",
    "encode_message",
    "event_message",
    "exception_message",
    "validate_converse",
]

BEDROCK_VERSION = "bedrock-2023-05-31"
_REQUEST_ID = "3f1c2b9e-fake-4d5e-9a7b-0123456789ab"
_ERROR_TYPES = {
    400: "ValidationException",
    403: "AccessDeniedException",
    404: "ResourceNotFoundException",
    408: "ModelTimeoutException",
    424: "ModelErrorException",
    429: "ThrottlingException",
    500: "InternalServerException",
    503: "ServiceUnavailableException",
}
_MESSAGES = {
    403: "You don't have access to the model with the specified model ID.",
    404: "The provided model identifier is invalid.",
    408: "Model has timed out in processing the request. Try your request again.",
    424: "Received error from the model.",
    429: "Too many requests, please wait before trying again.",
    500: "The server encountered an internal error while processing the request.",
    503: "Bedrock is unable to process your request.",
}
_BEDROCK_ONLY: dict[str, dict[str, Any]] = {
    "fake-403": {"status": 403},
    "fake-424": {"status": 424},
    "fake-503": {"status": 503},
    "fake-context": {"status": 400, "message": "Input is too long for requested model."},
    "fake-stream-throttle": {"stream_error": 4, "stream_exception": "throttlingException"},
}
_AUTH = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,]+)/(?P<date>\d{8})/(?P<region>[^/,]+)/(?P<service>[^/,]+)"
    r"/aws4_request, ?SignedHeaders=(?P<signed>[a-z0-9;-]+), ?Signature=(?P<signature>[0-9a-f]{64})"
)
_SIGNATURE_MISMATCH = (
    "The request signature we calculated does not match the signature you provided. Check your AWS Secret "
    "Access Key and signing method. Consult the service documentation for details."
)


def behaviour_for(model_id: str) -> dict[str, Any]:
    """FakeAnthropic's behaviours, with Bedrock's statuses and messages where they differ."""
    for name, behaviour in _BEDROCK_ONLY.items():
        if model_id == name or model_id.startswith(name + "@"):
            return dict(behaviour)
    b = anthropic.behaviour_for(model_id)
    if b.get("status") == 529:  # Bedrock has no 529: an overloaded model is a 503
        b["status"] = 503
    if "stream_error" in b:
        b.setdefault("stream_exception", "modelStreamErrorException")
    return b


# -- event stream encoding (test side only; app/providers/aws_eventstream.py decodes) ----------------------

_FIXED = {2: ">b", 3: ">h", 4: ">i", 5: ">q"}


def encode_header(name: str, kind: int, value: Any) -> bytes:
    """One header: name length, name, value type 0..9, value (see HeaderValue in aws_eventstream)."""
    raw_name = name.encode()
    head = struct.pack(">B", len(raw_name)) + raw_name + struct.pack(">B", kind)
    if kind in (0, 1):
        return head
    if kind in _FIXED:
        return head + struct.pack(_FIXED[kind], value)
    if kind in (6, 7):
        raw = value.encode() if kind == 7 else bytes(value)
        return head + struct.pack(">H", len(raw)) + raw
    if kind == 8:
        millis = value if isinstance(value, int) else round(value.timestamp() * 1000)
        return head + struct.pack(">q", millis)
    if kind == 9:
        return head + (value.bytes if isinstance(value, uuid.UUID) else bytes(value))
    raise ValueError(f"header value type {kind} is not one of 0..9")


def encode_message(headers: Sequence[tuple[str, int, Any]], payload: bytes) -> bytes:
    """One event stream message: prelude (lengths, CRC), headers, payload, message CRC."""
    raw_headers = b"".join(encode_header(name, kind, value) for name, kind, value in headers)
    prelude = struct.pack(">II", 16 + len(raw_headers) + len(payload), len(raw_headers))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + raw_headers + payload
    return body + struct.pack(">I", zlib.crc32(body))


def event_message(event_type: str, payload: bytes) -> bytes:
    """An `event` message, with the headers (and order) Bedrock sends."""
    headers = [(":event-type", 7, event_type), (":content-type", 7, "application/json"), (":message-type", 7, "event")]
    return encode_message(headers, payload)


def chunk_message(event_json: bytes, padding: str = "abcdefghijklmnopqrstuvwxyzABCDEFGH") -> bytes:
    """A `chunk` event carrying one Anthropic event; Bedrock pads payloads with a `p` member, as here."""
    payload = json.dumps({"bytes": base64.b64encode(event_json).decode(), "p": padding}, separators=(",", ":"))
    return event_message("chunk", payload.encode())


def exception_message(exception_type: str, message: str) -> bytes:
    """An `exception` message, as Bedrock sends mid-stream (`throttlingException`, `modelStreamErrorException`...)."""
    headers = [
        (":exception-type", 7, exception_type),
        (":content-type", 7, "application/json"),
        (":message-type", 7, "exception"),
    ]
    return encode_message(headers, json.dumps({"message": message}).encode())


# -- Converse ----------------------------------------------------------------------------------------------

CONVERSE_KEYS = frozenset(
    {
        "messages",
        "system",
        "inferenceConfig",
        "toolConfig",
        "additionalModelRequestFields",
        "additionalModelResponseFieldPaths",
        "guardrailConfig",
        "promptVariables",
        "requestMetadata",
        "performanceConfig",
    }
)
_BLOCK_KEYS = ("text", "image", "document", "toolUse", "toolResult", "reasoningContent")
_OTHER_BLOCK_KEYS = ("video", "cachePoint", "guardContent", "citationsContent")  # valid, never checked further
_INFERENCE_KEYS = ("maxTokens", "temperature", "topP", "stopSequences")
_IMAGE_FORMATS = ("png", "jpeg", "gif", "webp")
_DOCUMENT_FORMATS = ("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
_TOOL_NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
_DOCUMENT_NAME = re.compile(r"[A-Za-z0-9\-()\[\] ]{1,200}")
_PADDING = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_NO_TOOL_CONFIG = "The toolConfig field must be defined when using toolUse and toolResult content blocks."
_FAKE_TOOL_USE_ID = "tooluse_fake_1"
_BLANK = "The text field in the {} is blank. Add text to the text field, and try again."


def _malformed(what: str) -> str:
    return f"Malformed input request: {what}, please reformat your input and try again."


def _constraint(value: Any, path: str, constraint: str) -> str:
    return f"1 validation error detected: Value '{value}' at '{path}' failed to satisfy constraint: {constraint}"


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_bytes(path: str, source: Any) -> str | None:
    data = source.get("bytes") if isinstance(source, dict) else None
    if isinstance(source, dict) and "s3Location" in source:
        return None
    if not isinstance(data, str) or not data:
        return _malformed(f"#/{path}/source: bytes or s3Location required")
    try:
        base64.b64decode(data, validate=True)
    except ValueError:
        return _malformed(f"#/{path}/source/bytes: expected base64-encoded bytes")
    return None


def _check_tool_result(path: str, result: Any) -> str | None:
    if not isinstance(result, dict) or not isinstance(result.get("toolUseId"), str):
        return _malformed(f"#/{path}/toolResult: required key [toolUseId] not found")
    content = result.get("content")
    if not isinstance(content, list):
        return _malformed(f"#/{path}/toolResult: required key [content] not found")
    for j, item in enumerate(content):
        keys = [k for k in ("text", "json", "image", "document", "video") if isinstance(item, dict) and k in item]
        if len(keys) != 1:
            return f"The ToolResultContentBlock at {path}.toolResult.content.{j} must set exactly one member."
        if keys == ["text"] and not isinstance(item["text"], str):
            return _malformed(f"#/{path}/toolResult/content/{j}/text: expected type: String")
    if result.get("status") not in (None, "success", "error"):
        return _constraint(result["status"], f"{path}.toolResult.status", "Member must satisfy enum value set")
    return None


def _check_converse_block(path: str, block: Any, role: str) -> str | None:
    keys = [k for k in (*_BLOCK_KEYS, *_OTHER_BLOCK_KEYS) if isinstance(block, dict) and k in block]
    if len(keys) != 1 or len(block) != 1:
        return f"The ContentBlock at {path} must set exactly one of: {', '.join(_BLOCK_KEYS)}."
    value = block[keys[0]]
    if keys[0] == "text":
        if not isinstance(value, str):
            return _malformed(f"#/{path}/text: expected type: String")
        if not value.strip():
            return _BLANK.format(f"ContentBlock object at {path}")
    elif keys[0] == "image":
        if not isinstance(value, dict) or value.get("format") not in _IMAGE_FORMATS:
            return _constraint(
                value, f"{path}.image.format", f"Member must satisfy enum value set: {list(_IMAGE_FORMATS)}"
            )
        return _check_bytes(f"{path}/image", value.get("source"))
    elif keys[0] == "document":
        if not isinstance(value, dict) or value.get("format") not in _DOCUMENT_FORMATS:
            return _constraint(value, f"{path}.document.format", "Member must satisfy enum value set")
        if not isinstance(value.get("name"), str) or not _DOCUMENT_NAME.fullmatch(value["name"]):
            return f"The document name at {path}.document.name is not valid."
        return _check_bytes(f"{path}/document", value.get("source"))
    elif keys[0] == "toolUse":
        if role != "assistant":
            return f"The toolUse block at {path} is only allowed in assistant messages."
        if not isinstance(value, dict) or not all(isinstance(value.get(k), str) for k in ("toolUseId", "name")):
            return _malformed(f"#/{path}/toolUse: required keys [toolUseId, name] not found")
        if "input" not in value:
            return _malformed(f"#/{path}/toolUse: required key [input] not found")
    elif keys[0] == "toolResult":
        if role != "user":
            return f"The toolResult block at {path} is only allowed in user messages."
        return _check_tool_result(path, value)
    return None


def _tool_ids(message: dict[str, Any], kind: str, key: str = "toolUseId") -> list[str]:
    return [b[kind][key] for b in message["content"] if isinstance(b, dict) and isinstance(b.get(kind), dict)]


def _check_converse_pairing(messages: list[dict[str, Any]]) -> str | None:
    for i, message in enumerate(messages):
        if message["role"] == "assistant":
            asked = _tool_ids(message, "toolUse")
            following = messages[i + 1] if i + 1 < len(messages) else None
            answered = _tool_ids(following, "toolResult") if following else []
            missing = [tool_id for tool_id in asked if tool_id not in answered]
            if missing:
                ids = ", ".join(missing)
                return f"Expected toolResult blocks at messages.{i + 1}.content for the following Ids: {ids}"
        else:
            previous = _tool_ids(messages[i - 1], "toolUse") if i else []
            for tool_id in _tool_ids(message, "toolResult"):
                if tool_id not in previous:
                    return (
                        f"The toolResult with toolUseId {tool_id} at messages.{i}.content does not match any "
                        "toolUse block of the previous turn."
                    )
    return None


def _check_converse_messages(messages: Any) -> str | None:
    if not isinstance(messages, list) or not messages:
        return _constraint(
            messages, "messages", "Member must not be null and must have length greater than or equal to 1"
        )
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            return _constraint(message, f"messages.{i}.role", "Member must satisfy enum value set: [user, assistant]")
        if not isinstance(message.get("content"), list) or not message["content"]:
            return (
                f"The content field in the Message object at messages.{i} is empty. "
                "Add a ContentBlock object to the content field and try again."
            )
        if i == 0 and message["role"] != "user":
            return (
                "A conversation must start with a user message. "
                "Try again with a conversation that starts with a user message."
            )
        if i and message["role"] == messages[i - 1]["role"]:
            return (
                "A conversation must alternate between user and assistant roles. Make sure the conversation "
                "alternates between user and assistant roles and try again."
            )
        for j, block in enumerate(message["content"]):
            problem = _check_converse_block(f"messages.{i}.content.{j}", block, message["role"])
            if problem:
                return problem
    return _check_converse_pairing(messages)


def _check_tool_config(config: Any) -> str | None:
    tools = config.get("tools") if isinstance(config, dict) else None
    if not isinstance(tools, list) or not tools:
        return _constraint(tools, "toolConfig.tools", "Member must have length greater than or equal to 1")
    for i, tool in enumerate(tools):
        spec = tool.get("toolSpec") if isinstance(tool, dict) else None
        if isinstance(tool, dict) and "cachePoint" in tool:
            continue
        if (
            not isinstance(spec, dict)
            or not isinstance(spec.get("name"), str)
            or not _TOOL_NAME.fullmatch(spec["name"])
        ):
            name = spec.get("name") if isinstance(spec, dict) else None
            return _constraint(
                name,
                f"toolConfig.tools.{i}.member.name",
                "Member must satisfy regular expression pattern: [a-zA-Z0-9_-]+",
            )
        schema = spec.get("inputSchema")
        if not isinstance(schema, dict) or not isinstance(schema.get("json"), dict):
            return _malformed(f"#/toolConfig/tools/{i}/toolSpec/inputSchema: required key [json] not found")
        if "description" in spec and not (isinstance(spec["description"], str) and spec["description"]):
            return _constraint(
                spec["description"],
                f"toolConfig.tools.{i}.member.description",
                "Member must have length greater than or equal to 1",
            )
    choice = config.get("toolChoice")
    if choice is not None:
        names = [t["toolSpec"]["name"] for t in tools if "toolSpec" in t]
        ok = isinstance(choice, dict) and len(choice) == 1
        if ok and "tool" in choice:
            ok = isinstance(choice["tool"], dict) and choice["tool"].get("name") in names
        elif ok:
            ok = next(iter(choice)) in ("auto", "any") and choice[next(iter(choice))] == {}
        if not ok:
            return f"The value of toolConfig.toolChoice is not valid: {json.dumps(choice)}"
    return None


def _check_inference_config(config: Any) -> str | None:
    if not isinstance(config, dict):
        return _malformed("#/inferenceConfig: expected type: JSONObject")
    for key in config:
        if key not in _INFERENCE_KEYS:
            return _malformed(f"#/inferenceConfig: extraneous key [{key}] is not permitted")
    max_tokens = config.get("maxTokens")
    if max_tokens is not None and (not isinstance(max_tokens, int) or isinstance(max_tokens, bool) or max_tokens < 1):
        return _constraint(max_tokens, "inferenceConfig.maxTokens", "Member must have value greater than or equal to 1")
    for key in ("temperature", "topP"):
        value = config.get(key)
        if value is not None and not (_is_number(value) and 0 <= value <= 1):
            return _constraint(value, f"inferenceConfig.{key}", "Member must have value between 0 and 1")
    stops = config.get("stopSequences")
    if stops is not None and not (isinstance(stops, list) and all(isinstance(s, str) and s for s in stops)):
        return _constraint(stops, "inferenceConfig.stopSequences", "Member must be a list of non-empty strings")
    return None


def validate_converse(doc: Any) -> str | None:
    """The ValidationException message Bedrock gives for a Converse body, or None when it would be accepted."""
    if not isinstance(doc, dict):
        return _malformed("#: expected type: JSONObject")
    for key in doc:
        if key not in CONVERSE_KEYS:
            return _malformed(f"#: extraneous key [{key}] is not permitted")
    problem = _check_converse_messages(doc.get("messages"))
    if problem:
        return problem
    system = doc.get("system")
    if system is not None:
        if not isinstance(system, list):
            return _malformed("#/system: expected type: JSONArray")
        for i, block in enumerate(system):
            keys = [k for k in ("text", "guardContent", "cachePoint") if isinstance(block, dict) and k in block]
            if len(keys) != 1:
                return f"The SystemContentBlock at system.{i} must set exactly one member."
            if keys == ["text"] and not (isinstance(block["text"], str) and block["text"].strip()):
                return _BLANK.format(f"SystemContentBlock object at system.{i}")
    if doc.get("toolConfig") is not None:
        problem = _check_tool_config(doc["toolConfig"])
        if problem:
            return problem
    elif any(_tool_ids(m, "toolUse") or _tool_ids(m, "toolResult") for m in doc["messages"]):
        return _NO_TOOL_CONFIG
    if doc.get("inferenceConfig") is not None:
        problem = _check_inference_config(doc["inferenceConfig"])
        if problem:
            return problem
    fields = doc.get("additionalModelRequestFields")
    if fields is not None and not isinstance(fields, dict):
        return _malformed("#/additionalModelRequestFields: expected type: JSONObject")
    return None


def _converse_texts(message: dict[str, Any], kind: str = "text") -> list[str]:
    return [b[kind] for b in message["content"] if isinstance(b, dict) and isinstance(b.get(kind), str)]


def _converse_tool_results(messages: list[dict[str, Any]]) -> list[str]:
    last = messages[-1] if messages[-1]["role"] == "user" else {"content": []}
    results = [b["toolResult"] for b in last["content"] if isinstance(b, dict) and "toolResult" in b]
    return [" ".join(c.get("text") or json.dumps(c.get("json")) for c in r["content"]) for r in results]


def converse_answer(doc: dict[str, Any], model_id: str, b: dict[str, Any], latency_ms: int = 1) -> dict[str, Any]:
    """The Converse answer for a valid `doc`: text from the last user turn, a toolUse for fake-tool, a
    reasoningContent block first for fake-thinking; stop sequences and maxTokens are honoured."""
    messages = doc["messages"]
    tools = (doc.get("toolConfig") or {}).get("tools") or []
    results = _converse_tool_results(messages)
    content: list[dict[str, Any]]
    if b.get("tool_call") and tools and not results:
        name = next(t["toolSpec"]["name"] for t in tools if "toolSpec" in t)
        use = {"toolUseId": _FAKE_TOOL_USE_ID, "name": name, "input": {"city": "Paris"}}
        content, stop, words = [{"toolUse": use}], "tool_use", 4
    else:
        if b.get("text") is not None:
            text = str(b["text"])
        elif results:
            text = "Tool results: " + " | ".join(results)
        else:
            user_texts = next(
                (_converse_texts(m) for m in reversed(messages) if m["role"] == "user" and _converse_texts(m)), []
            )
            text = reply_text(model_id, [{"role": "user", "content": " ".join(user_texts)}])
        while len(text) < int(b.get("chunks") or 0):
            text += " more"
        stop = "end_turn"
        config = doc.get("inferenceConfig") or {}
        hits = [(text.find(s), s) for s in config.get("stopSequences") or () if s in text]
        if hits:
            text, stop = text[: min(hits)[0]], "stop_sequence"
        if config.get("maxTokens") is not None and len(text.split()) > config["maxTokens"]:
            text, stop = " ".join(text.split()[: config["maxTokens"]]), "max_tokens"
        content, words = [{"text": text}], max(1, len(text.split()))
        if b.get("thinking"):
            thought = f"Let me think about: {' '.join(_converse_texts(messages[-1])) or 'the question'}"
            reasoning = {"reasoningText": {"text": thought, "signature": "sig_fake_EqQBCkYIARgCIkD"}}
            content.insert(0, {"reasoningContent": reasoning})
            words += len(thought.split())
    prompt = len(json.dumps(messages)) // 4
    usage = {"inputTokens": prompt, "outputTokens": words, "totalTokens": prompt + words}
    if b.get("cache_read"):
        usage |= {"cacheReadInputTokens": int(b["cache_read"]), "cacheWriteInputTokens": 0}
        usage["totalTokens"] += int(b["cache_read"])
    return {
        "output": {"message": {"role": "assistant", "content": content}},
        "stopReason": stop,
        "usage": usage,
        "metrics": {"latencyMs": latency_ms},
    }


def converse_event(event_type: str, doc: dict[str, Any]) -> bytes:
    """One ConverseStream event: its JSON payload with Bedrock's `p` padding member."""
    padding = _PADDING[: 1 + len(event_type) % len(_PADDING)]
    return event_message(event_type, json.dumps({**doc, "p": padding}, separators=(",", ":")).encode())


def _split_exactly(text: str, n: int) -> list[str]:
    size = max(1, -(-len(text) // max(1, n)))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    return parts + [""] * (n - len(parts)) if len(parts) < n else parts


def converse_stream_events(answer: dict[str, Any], b: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """`answer` as ConverseStream events: text in `chunks` deltas (5 by default), tool input in 3 partial-JSON
    deltas, reasoning text then its signature; messageStop and metadata close, unless `no_done`."""
    events: list[tuple[str, dict[str, Any]]] = [("messageStart", {"role": "assistant"})]
    for index, block in enumerate(answer["output"]["message"]["content"]):
        at = {"contentBlockIndex": index}
        if "toolUse" in block:
            use = block["toolUse"]
            events.append(
                ("contentBlockStart", {**at, "start": {"toolUse": {k: use[k] for k in ("toolUseId", "name")}}})
            )
            pieces = _split_exactly(json.dumps(use["input"]), 3)
            events += [("contentBlockDelta", {**at, "delta": {"toolUse": {"input": p}}}) for p in pieces]
        elif "reasoningContent" in block:
            text = block["reasoningContent"]["reasoningText"]
            events.append(("contentBlockDelta", {**at, "delta": {"reasoningContent": {"text": text["text"]}}}))
            events.append(
                ("contentBlockDelta", {**at, "delta": {"reasoningContent": {"signature": text["signature"]}}})
            )
        else:
            pieces = _split_exactly(block["text"], int(b.get("chunks") or 5))
            events += [("contentBlockDelta", {**at, "delta": {"text": p}}) for p in pieces]
        events.append(("contentBlockStop", at))
    if not b.get("no_done"):
        events.append(("messageStop", {"stopReason": answer["stopReason"]}))
        events.append(("metadata", {"usage": answer["usage"], "metrics": answer["metrics"]}))
    return events


def _cut_by_exception(encoded: list[bytes], b: dict[str, Any]) -> list[bytes]:
    """`encoded` cut after `stream_error` messages by the scripted exception message, when one is asked for."""
    if b.get("stream_error") is None:
        return encoded
    kind = str(b.get("stream_exception") or "modelStreamErrorException")
    text = "Too many requests, please wait before trying again." if "throttl" in kind.lower() else "Overloaded"
    return [*encoded[: int(b["stream_error"])], exception_message(kind, text)]


# -- the server ------------------------------------------------------------------------------------------


@dataclass
class BedrockCall:
    """One invocation whose body parsed, as the fake saw it (whether or not it was then accepted)."""

    model_id: str
    stream: bool
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    auth: str
    """"bearer", "sigv4" or "" (none)."""

    @property
    def anthropic_beta(self) -> list[str] | None:
        beta = self.body.get("anthropic_beta")
        return list(beta) if isinstance(beta, list) else None


@dataclass
class FakeBedrock(FakeServer):
    """Bedrock runtime's invoke routes. `api_key` (a Bedrock API key; None accepts any bearer token) and/or
    `access_key`+`secret_key` (+ `session_token`, required when set) for SigV4 in `region`. `max_skew_s` bounds how
    far `x-amz-date` may be from the wall clock (None: not checked, for requests signed at a fixed time)."""

    api_key: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    session_token: str | None = None
    region: str = "us-east-1"
    max_skew_s: float | None = 300.0
    calls: list[BedrockCall] = field(default_factory=list)

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/model/{model_id}/invoke", self.invoke)
        app.router.add_post("/model/{model_id}/invoke-with-response-stream", self.invoke_stream)
        app.router.add_post("/model/{model_id}/converse", self.converse)
        app.router.add_post("/model/{model_id}/converse-stream", self.converse_stream)
        # The control plane (bedrock.<region>, beside bedrock-runtime.<region>) lists models: the free probe.
        app.router.add_get("/foundation-models", self.foundation_models)

    async def foundation_models(self, request: web.Request) -> web.Response:
        _, problem = self._auth_problem(request, b"")
        if problem is not None:
            return problem
        summaries = [
            {
                "modelId": "anthropic.claude-haiku-4-5-20251001-v1:0",
                "providerName": "Anthropic",
                "inputModalities": ["TEXT", "IMAGE"],
                "outputModalities": ["TEXT"],
                "responseStreamingSupported": True,
            }
        ]
        return web.json_response({"modelSummaries": summaries})

    def reset(self) -> None:
        super().reset()
        self.calls.clear()

    @staticmethod
    def _error(
        status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None
    ) -> web.Response:
        error_type = kind or _ERROR_TYPES.get(status, "InternalServerException")
        return web.json_response(
            {"message": message},
            status=status,
            headers={"x-amzn-ErrorType": error_type, "x-amzn-RequestId": _REQUEST_ID, **(headers or {})},
        )

    # -- auth ----------------------------------------------------------------------------------------------
    def _auth_problem(self, request: web.Request, body: bytes) -> tuple[str, web.Response | None]:
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            if self.api_key is not None and header[7:] != self.api_key:
                return "bearer", self._error(
                    403, "The security token included in the request is invalid.", "UnrecognizedClientException"
                )
            return "bearer", None
        if header.startswith("AWS4-HMAC-SHA256 "):
            return "sigv4", self._sigv4_problem(request, body, header)
        return "", self._error(403, "Missing Authentication Token", "MissingAuthenticationTokenException")

    def _sigv4_problem(self, request: web.Request, body: bytes, header: str) -> web.Response | None:
        parsed = _AUTH.fullmatch(header)
        if parsed is None:
            return self._error(403, "Authorization header is malformed.", "IncompleteSignatureException")
        token = request.headers.get("x-amz-security-token")
        if parsed["key"] != self.access_key or self.secret_key is None or token != self.session_token:
            return self._error(
                403, "The security token included in the request is invalid.", "UnrecognizedClientException"
            )
        if parsed["region"] != self.region:
            return self._error(403, "Credential should be scoped to a valid region.", "InvalidSignatureException")
        if parsed["service"] != "bedrock":
            return self._error(
                403, "Credential should be scoped to correct service: 'bedrock'.", "InvalidSignatureException"
            )
        signed = parsed["signed"].split(";")
        amz_date = request.headers.get("x-amz-date", "")
        if "host" not in signed or "x-amz-date" not in signed or amz_date[:8] != parsed["date"]:
            return self._error(403, _SIGNATURE_MISMATCH, "InvalidSignatureException")
        if self.max_skew_s is not None:
            sent = datetime.strptime(amz_date, "%Y%m%dT%H%M%SZ").replace(tzinfo=UTC)
            if abs((datetime.now(UTC) - sent).total_seconds()) > self.max_skew_s:
                return self._error(403, f"Signature expired: {amz_date}", "InvalidSignatureException")
        if parsed["signature"] != self._botocore_signature(request, body, signed, amz_date):
            return self._error(403, _SIGNATURE_MISMATCH, "InvalidSignatureException")
        return None

    def _botocore_signature(self, request: web.Request, body: bytes, signed: list[str], amz_date: str) -> str:
        """botocore's signature for the request as received: the signed headers, the raw path, `x-amz-date`."""
        headers = {name: ",".join(request.headers.getall(name, [])) for name in signed}
        aws = AWSRequest(
            method=request.method,
            url=f"{request.scheme}://{request.host}{request.raw_path}",
            data=body,
            headers=headers,
        )
        aws.context["timestamp"] = amz_date
        auth = SigV4Auth(Credentials(self.access_key, self.secret_key, self.session_token), "bedrock", self.region)
        return str(auth.signature(auth.string_to_sign(aws, auth.canonical_request(aws)), aws))

    # -- invocations ---------------------------------------------------------------------------------------
    async def invoke(self, request: web.Request) -> web.StreamResponse:
        return await self._invoke(request, stream=False)

    async def invoke_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._invoke(request, stream=True)

    @staticmethod
    def _body_problem(doc: Any, model_id: str) -> str | None:
        if not isinstance(doc, dict):
            return "Malformed input request: #: expected type: JSONObject, please reformat your input and try again."
        for key in ("model", "stream"):
            if key in doc:
                return (
                    f"Malformed input request: #: extraneous key [{key}] is not permitted, "
                    "please reformat your input and try again."
                )
        version = doc.get("anthropic_version")
        if version is None:
            return (
                "Malformed input request: #: required key [anthropic_version] not found, "
                "please reformat your input and try again."
            )
        if version != BEDROCK_VERSION:
            return f"Invalid API version: {version}"
        beta = doc.get("anthropic_beta")
        if beta is not None and not (isinstance(beta, list) and all(isinstance(flag, str) for flag in beta)):
            return "Malformed input request: #/anthropic_beta: expected type: JSONArray, please reformat your input."
        return anthropic.validate_request({**doc, "model": model_id})

    async def _invoke(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        started = time.monotonic()
        model_id = request.match_info["model_id"]  # aiohttp decodes it (`v1%3A0` -> `v1:0`)
        raw = await request.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        auth, problem = self._auth_problem(request, raw)
        if isinstance(doc, dict):
            self.calls.append(BedrockCall(model_id, stream, request.path, dict(request.headers), doc, auth))
        if problem is not None:
            return problem
        if doc is None:
            return self._error(400, "Malformed input request, please reformat your input and try again.")
        invalid = self._body_problem(doc, model_id)
        if invalid:
            return self._error(400, invalid)
        b = behaviour_for(model_id)
        b.update(self.next_behaviour(model_id) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._scripted_error(b)
        message = anthropic.answer_message({**doc, "model": model_id}, model_id, b)
        if stream:
            return await self._stream(request, message, b, started)
        usage = message["usage"]
        latency = max(1, round((time.monotonic() - started) * 1000))
        headers = {
            "x-amzn-RequestId": _REQUEST_ID,
            "X-Amzn-Bedrock-Input-Token-Count": str(usage["input_tokens"]),
            "X-Amzn-Bedrock-Output-Token-Count": str(usage["output_tokens"]),
            "X-Amzn-Bedrock-Invocation-Latency": str(latency),
        }
        return web.json_response(message, headers=headers)

    def _scripted_error(self, b: dict[str, Any]) -> web.Response:
        status = int(b["status"])
        headers = dict(b.get("headers") or {})
        if "body" in b:
            return web.json_response(b["body"], status=status, headers=headers)
        message = str(b.get("message") or _MESSAGES.get(status) or f"fake error {status}")
        return self._error(status, message, b.get("error_type"), headers)

    def _messages(self, message: dict[str, Any], b: dict[str, Any], started: float) -> list[bytes]:
        """FakeAnthropic's events for `message`, each re-encoded as a Bedrock `chunk` (or the exception)."""
        frames = anthropic.stream_frames(message, {k: v for k, v in b.items() if k != "stream_error"})
        events = [frame.split(b"\ndata: ", 1)[1].rstrip(b"\n") for frame in frames]
        events = [e for e in events if json.loads(e)["type"] != "ping"]
        if events and json.loads(events[-1])["type"] == "message_stop":
            latency = max(1, round((time.monotonic() - started) * 1000))
            metrics = {
                "inputTokenCount": message["usage"]["input_tokens"],
                "outputTokenCount": message["usage"]["output_tokens"],
                "invocationLatency": latency,
                "firstByteLatency": max(1, latency // 2),
            }
            stop = {"type": "message_stop", "amazon-bedrock-invocationMetrics": metrics}
            events[-1] = json.dumps(stop, separators=(",", ":")).encode()
        encoded = [chunk_message(event) for event in events]
        return _cut_by_exception(encoded, b)

    async def _stream(
        self, request: web.Request, message: dict[str, Any], b: dict[str, Any], started: float
    ) -> web.StreamResponse:
        return await self._send_stream(
            request, self._messages(message, b, started), b, {"X-Amzn-Bedrock-Content-Type": "application/json"}
        )

    @staticmethod
    async def _send_stream(
        request: web.Request, encoded: list[bytes], b: dict[str, Any], headers: dict[str, str] | None = None
    ) -> web.StreamResponse:
        """Write event stream messages, with the stall/cut behaviours `b` asks for."""
        resp = web.StreamResponse(
            headers={
                "Content-Type": "application/vnd.amazon.eventstream",
                "x-amzn-RequestId": _REQUEST_ID,
                **(headers or {}),
            }
        )
        await resp.prepare(request)
        if b.get("stall_first"):
            await asyncio.sleep(60)
        for index, data in enumerate(encoded):
            if b.get("cut_after") is not None and index >= int(b["cut_after"]):
                assert request.transport is not None
                request.transport.abort()
                return resp
            if b.get("stall_after") is not None and index >= int(b["stall_after"]):
                await asyncio.sleep(60)
            await resp.write(data)
            if b.get("chunk_delay_ms"):
                await asyncio.sleep(b["chunk_delay_ms"] / 1000)
        await resp.write_eof()
        return resp

    # -- Converse --------------------------------------------------------------------------------------------
    async def converse(self, request: web.Request) -> web.StreamResponse:
        return await self._converse(request, stream=False)

    async def converse_stream(self, request: web.Request) -> web.StreamResponse:
        return await self._converse(request, stream=True)

    async def _converse(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        started = time.monotonic()
        model_id = request.match_info["model_id"]
        raw = await request.read()
        try:
            doc = json.loads(raw)
        except ValueError:
            doc = None
        auth, problem = self._auth_problem(request, raw)
        if isinstance(doc, dict):
            self.calls.append(BedrockCall(model_id, stream, request.path, dict(request.headers), doc, auth))
        if problem is not None:
            return problem
        if doc is None:
            return self._error(400, "Malformed input request, please reformat your input and try again.")
        invalid = validate_converse(doc)
        if invalid:
            return self._error(400, invalid)
        b = behaviour_for(model_id)
        b.update(self.next_behaviour(model_id) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._scripted_error(b)
        answer = converse_answer(doc, model_id, b, max(1, round((time.monotonic() - started) * 1000)))
        if not stream:
            return web.json_response(answer, headers={"x-amzn-RequestId": _REQUEST_ID})
        events = converse_stream_events(answer, {k: v for k, v in b.items() if k != "stream_error"})
        encoded = [converse_event(event, payload) for event, payload in events]
        return await self._send_stream(request, _cut_by_exception(encoded, b), b)
