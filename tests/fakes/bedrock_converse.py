"""Bedrock's Converse API as the fake Bedrock runtime (`tests.fakes.bedrock`) serves it.

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

import base64
import json
import re
from typing import Any

from tests.fakes.aws_eventstream import event_message
from tests.fakes.openai import reply_text

__all__ = ["CONVERSE_KEYS", "converse_answer", "converse_event", "converse_stream_events", "validate_converse"]

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
