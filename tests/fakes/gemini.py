"""A fake Gemini upstream (generativelanguage v1beta): generateContent, streaming, embeddings, models.

Routes: POST /v1beta/models/{model}:generateContent, :streamGenerateContent (SSE frames ending in
CRLF CRLF with ?alt=sse, else one JSON array, as the real API does), :batchEmbedContents,
:embedContent; GET /v1beta/models. Every fragment carries cumulative usageMetadata;
the last one carries finishReason and the final counts.

Behaviour is picked by model name or scripted per request with `script(model, {...})`:

  fake-500 / fake-503 / fake-429 / fake-400 / fake-403 / fake-404  that status, Gemini error body
                             (503 UNAVAILABLE, 429 RESOURCE_EXHAUSTED with Retry-After and RetryInfo)
  fake-context               400 "The input token count ... exceeds the maximum number of tokens"
  fake-stall                 accepts and never answers (bounded at 60 s)
  fake-stall-first           sends headers, then nothing
  fake-stall-mid             streams a few fragments, then stalls
  fake-cut                   streams a few fragments, then resets the connection
  fake-no-finish             streams fragments, then ends cleanly without a finishReason
  fake-tool                  two parallel functionCall parts (then text once functionResponses come back)
  fake-thinking              thought parts (when thinkingConfig.includeThoughts) then text; thoughtsTokenCount
  fake-safety                a candidate with finishReason SAFETY and no content
  fake-blocked               no candidates; promptFeedback.blockReason SAFETY
  fake-chunks-N              streams N text fragments
  fake-slow-MS               waits MS milliseconds before answering
  anything else              a deterministic text answer

Script keys: status, message, body, headers, retry_after, delay_ms, stall, stall_first, stall_after,
cut_after, no_finish, text, chunks, chunk_delay_ms, tool_call, thinking, safety, blocked,
finish_reason, cached_tokens.

Requests Gemini would refuse are refused with its error shape, so translation bugs fail loudly: no
`x-goog-api-key` header (403; a `key=` query parameter is not accepted here), a wrong key when
`api_key` is set (400 API_KEY_INVALID), unknown fields, empty contents or parts, a role other than
user/model, a part without exactly one data field, a functionCall or functionResponse without a
name, a non-object functionResponse.response, unknown schema keywords, and a function-call turn
whose next turn does not answer every call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from tests.fakes.server import FakeServer

__all__ = [
    "FakeGemini",
    "GeminiRejection",
    "behaviour_for",
    "error_body",
    "merge_fragments",
    "validate_embed",
    "validate_generate",
]

_STATUS_NAMES = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    429: "RESOURCE_EXHAUSTED",
    500: "INTERNAL",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
}
_MESSAGES = {
    429: "You exceeded your current quota, please check your plan and billing details.",
    500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
    503: "The model is overloaded. Please try again later.",
}
_TOP = {"contents", "tools", "toolConfig", "safetySettings", "systemInstruction", "generationConfig", "cachedContent"}
_GENERATION = {
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseJsonSchema",
    "responseModalities",
    "candidateCount",
    "maxOutputTokens",
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "responseLogprobs",
    "logprobs",
    "enableEnhancedCivicAnswers",
    "speechConfig",
    "thinkingConfig",
    "mediaResolution",
    "imageConfig",
}
_THINKING = {"thinkingBudget", "includeThoughts", "thinkingLevel"}
_PART_DATA = {
    "text",
    "inlineData",
    "fileData",
    "functionCall",
    "functionResponse",
    "executableCode",
    "codeExecutionResult",
}
_PART_META = {"thought", "thoughtSignature", "videoMetadata", "partMetadata"}
_TOOL = {"functionDeclarations", "googleSearch", "googleSearchRetrieval", "codeExecution", "urlContext"}
_DECLARATION = {
    "name",
    "description",
    "parameters",
    "parametersJsonSchema",
    "response",
    "responseJsonSchema",
    "behavior",
}
_SCHEMA = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "maxItems",
    "minItems",
    "properties",
    "required",
    "minProperties",
    "maxProperties",
    "minLength",
    "maxLength",
    "pattern",
    "example",
    "anyOf",
    "propertyOrdering",
    "default",
    "items",
    "minimum",
    "maximum",
}
_MODES = {"MODE_UNSPECIFIED", "AUTO", "ANY", "NONE", "VALIDATED"}
_FUNCTION_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")


class GeminiRejection(Exception):
    """A request the real API would refuse, with its status and message."""

    def __init__(self, message: str, status: int = 400, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.reason = reason


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(word[:1].upper() + word[1:] for word in rest)


def _get(obj: dict[str, Any], camel: str) -> Any:
    """Proto JSON accepts lowerCamel and snake_case names alike."""
    if camel in obj:
        return obj[camel]
    snake = re.sub(r"([A-Z])", lambda m: "_" + m.group(1).lower(), camel)
    return obj.get(snake)


def _keys(obj: Any, allowed: set[str], where: str) -> dict[str, Any]:
    if not isinstance(obj, dict):
        raise GeminiRejection(f"Invalid JSON payload received. Expected an object at '{where}'.")
    for key in obj:
        if _camel(key) not in allowed:
            at = f" at '{where}'" if where else ""
            raise GeminiRejection(f'Invalid JSON payload received. Unknown name "{key}"{at}: Cannot find field.')
    return obj


def validate_generate(doc: Any) -> None:
    """Raise GeminiRejection for what generateContent would refuse."""
    _keys(doc, _TOP, "")
    contents = doc.get("contents")
    if not isinstance(contents, list) or not contents:
        raise GeminiRejection("* GenerateContentRequest.contents: contents is not specified\n")
    for i, content in enumerate(contents):
        _content(content, f"contents[{i}]")
    _turns(contents)
    system = _get(doc, "systemInstruction")
    if system is not None:
        _content(system, "system_instruction", system=True)
    for i, tool in enumerate(doc.get("tools") or []):
        _tool(tool, f"tools[{i}]")
    _tool_config(_get(doc, "toolConfig"))
    _generation_config(_get(doc, "generationConfig"))


def _content(content: Any, where: str, *, system: bool = False) -> None:
    _keys(content, {"role", "parts"}, where)
    role = content.get("role")
    if not system and role not in (None, "", "user", "model"):
        raise GeminiRejection("Please use a valid role: user, model.")
    parts = content.get("parts")
    if not isinstance(parts, list) or not parts:
        raise GeminiRejection(f"* GenerateContentRequest.{where}.parts: contents.parts must not be empty.\n")
    for j, part in enumerate(parts):
        _part(part, f"{where}.parts[{j}]")


def _part(part: Any, where: str) -> None:
    _keys(part, _PART_DATA | _PART_META, where)
    data = [key for key in part if _camel(key) in _PART_DATA]
    if len(data) != 1:
        raise GeminiRejection(
            f"* GenerateContentRequest.{where}.data: required oneof field 'data' must have one initialized field\n"
        )
    kind, value = _camel(data[0]), part[data[0]]
    if kind == "text" and (not isinstance(value, str) or not value):
        raise GeminiRejection(
            "Unable to submit request because it has an empty text parameter. Add a value to the "
            "parameter and try again."
        )
    if kind == "inlineData":
        _keys(value, {"mimeType", "data"}, f"{where}.inline_data")
        if not _get(value, "mimeType") or not value.get("data"):
            raise GeminiRejection(f"* GenerateContentRequest.{where}.inline_data: mime_type and data are required\n")
        try:
            base64.b64decode(value["data"], validate=True)
        except (binascii.Error, ValueError):
            message = f"Invalid value at '{where}.inline_data.data' (TYPE_BYTES), Base64 decoding failed"
            raise GeminiRejection(message) from None
    elif kind == "fileData":
        _keys(value, {"mimeType", "fileUri"}, f"{where}.file_data")
        if not _get(value, "fileUri"):
            raise GeminiRejection(f"* GenerateContentRequest.{where}.file_data.file_uri: file_uri is required\n")
    elif kind in ("functionCall", "functionResponse"):
        _function_part(kind, value, where)


def _function_part(kind: str, value: Any, where: str) -> None:
    allowed = (
        {"id", "name", "args"}
        if kind == "functionCall"
        else {"id", "name", "response", "willContinue", "scheduling", "parts"}
    )
    field = "function_call" if kind == "functionCall" else "function_response"
    _keys(value, allowed, f"{where}.{field}")
    if not isinstance(value.get("name"), str) or not value["name"]:
        raise GeminiRejection(f"* GenerateContentRequest.{where}.{field}.name: Name cannot be empty.\n")
    payload = value.get("args" if kind == "functionCall" else "response")
    if payload is not None and not isinstance(payload, dict):
        raise GeminiRejection(f"Invalid value at '{where}.{field}' (type.googleapis.com/google.protobuf.Struct)")
    if kind == "functionResponse" and payload is None:
        raise GeminiRejection(f"* GenerateContentRequest.{where}.{field}.response: response is required\n")


def _count(content: dict[str, Any], kind: str) -> int:
    return sum(1 for part in content["parts"] if any(_camel(k) == kind for k in part))


def _turns(contents: list[dict[str, Any]]) -> None:
    for i, content in enumerate(contents):
        calls = _count(content, "functionCall")
        if not calls:
            continue
        if i > 0 and contents[i - 1].get("role") == "model":
            raise GeminiRejection(
                "Please ensure that function call turn comes immediately after a user turn or "
                "after a function response turn."
            )
        if i + 1 < len(contents) and _count(contents[i + 1], "functionResponse") != calls:
            raise GeminiRejection(
                "Please ensure that the number of function response parts is equal to the number "
                "of function call parts of the function call turn."
            )


def _tool(tool: Any, where: str) -> None:
    _keys(tool, _TOOL, where)
    for i, declaration in enumerate(_get(tool, "functionDeclarations") or []):
        here = f"{where}.function_declarations[{i}]"
        _keys(declaration, _DECLARATION, here)
        if not _FUNCTION_NAME.match(str(declaration.get("name") or "")):
            raise GeminiRejection(
                f"* GenerateContentRequest.{here}.name: Invalid function name. Must start with a "
                "letter or an underscore. Must be alphameric (a-z, A-Z, 0-9), underscores (_), "
                "dots (.) or dashes (-), with a maximum length of 64.\n"
            )
        if declaration.get("parameters") is not None:
            _schema(declaration["parameters"], f"{here}.parameters")


def _schema(schema: Any, where: str) -> None:
    _keys(schema, _SCHEMA, where)
    properties = schema.get("properties")
    is_object = str(schema.get("type", "")).upper() == "OBJECT"
    if properties is not None:
        if not is_object:
            raise GeminiRejection(f"* GenerateContentRequest.{where}.properties: only allowed for OBJECT type\n")
        if not properties:
            raise GeminiRejection(f"* GenerateContentRequest.{where}.properties: should be non-empty for OBJECT type\n")
        for name, sub in properties.items():
            _schema(sub, f"{where}.properties[{name}].value")
    for name in schema.get("required") or []:
        if name not in (properties or {}):
            raise GeminiRejection(f"* GenerateContentRequest.{where}.required[{name}]: property is not defined\n")
    if schema.get("items") is not None:
        _schema(schema["items"], f"{where}.items")
    for i, sub in enumerate(_get(schema, "anyOf") or []):
        _schema(sub, f"{where}.any_of[{i}]")


def _tool_config(config: Any) -> None:
    if config is None:
        return
    _keys(config, {"functionCallingConfig", "retrievalConfig"}, "tool_config")
    calling = _get(config, "functionCallingConfig")
    if calling is None:
        return
    _keys(calling, {"mode", "allowedFunctionNames"}, "tool_config.function_calling_config")
    mode = calling.get("mode", "AUTO")
    if mode not in _MODES:
        raise GeminiRejection(f"Invalid value at 'tool_config.function_calling_config.mode' ({mode!r})")
    if _get(calling, "allowedFunctionNames") and mode != "ANY":
        raise GeminiRejection(
            "* GenerateContentRequest.tool_config.function_calling_config.allowed_function_names: "
            "allowed_function_names should only be set when the Function calling mode is ANY.\n"
        )


def _generation_config(config: Any) -> None:
    if config is None:
        return
    _keys(config, _GENERATION, "generation_config")
    thinking = _get(config, "thinkingConfig")
    if thinking is not None:
        _keys(thinking, _THINKING, "generation_config.thinking_config")
    if _get(config, "responseSchema") is not None:
        if _get(config, "responseMimeType") not in ("application/json", "text/x.enum"):
            raise GeminiRejection(
                "* GenerateContentRequest.generation_config.response_mime_type: "
                "response_schema is only supported with application/json or text/x.enum\n"
            )
        _schema(_get(config, "responseSchema"), "generation_config.response_schema")
    stops = _get(config, "stopSequences")
    if stops is not None and (not isinstance(stops, list) or len(stops) > 5):
        raise GeminiRejection("* GenerateContentRequest.generation_config.stop_sequences: at most 5 are allowed\n")


def validate_embed(doc: Any, model: str) -> list[str]:
    """The texts of a batchEmbedContents body, or GeminiRejection."""
    _keys(doc, {"requests"}, "")
    requests = doc.get("requests")
    if not isinstance(requests, list) or not requests:
        raise GeminiRejection("* BatchEmbedContentsRequest.requests: requests is not specified\n")
    texts = []
    for i, request in enumerate(requests):
        where = f"requests[{i}]"
        _keys(request, {"model", "content", "taskType", "title", "outputDimensionality"}, where)
        if request.get("model") != f"models/{model}":
            raise GeminiRejection(
                f"* BatchEmbedContentsRequest.{where}.model: model in the request must be models/{model}\n"
            )
        _content(request.get("content"), f"{where}.content")
        texts.append(" ".join(str(p.get("text", "")) for p in request["content"]["parts"]))
    return texts


def _last_user_text(contents: Any) -> str:
    for content in reversed(contents or []):
        if isinstance(content, dict) and content.get("role", "user") == "user":
            texts = [str(p["text"]) for p in content.get("parts") or [] if isinstance(p, dict) and "text" in p]
            if texts:
                return " ".join(texts)
    return ""


def _function_responses(contents: Any) -> list[Any]:
    return [
        _get(p, "functionResponse")
        for c in contents or []
        for p in c.get("parts") or []
        if _get(p, "functionResponse") is not None
    ]


def _wants_thoughts(doc: dict[str, Any]) -> bool:
    config = _get(doc, "generationConfig") or {}
    thinking = _get(config, "thinkingConfig") or {}
    return bool(_get(thinking, "includeThoughts"))


def behaviour_for(model: str) -> dict[str, Any]:
    simple = {
        "fake-500": {"status": 500},
        "fake-503": {"status": 503},
        "fake-429": {"status": 429, "retry_after": "1"},
        "fake-400": {"status": 400},
        "fake-403": {"status": 403},
        "fake-404": {"status": 404},
        "fake-context": {
            "status": 400,
            "message": "The input token count (1048577) exceeds the maximum number of tokens allowed (1048576).",
        },
        "fake-stall": {"stall": True},
        "fake-stall-first": {"stall_first": True},
        "fake-stall-mid": {"stall_after": 2},
        "fake-cut": {"cut_after": 2},
        "fake-no-finish": {"no_finish": True},
        "fake-tool": {"tool_call": True},
        "fake-thinking": {"thinking": True},
        "fake-safety": {"safety": True},
        "fake-blocked": {"blocked": True},
    }
    for name, behaviour in simple.items():
        if model == name or model.startswith(name + "@"):
            return dict(behaviour)
    if model.startswith("fake-chunks-"):
        return {"chunks": int(model.rsplit("-", 1)[1])}
    if model.startswith("fake-slow-"):
        return {"delay_ms": int(model.rsplit("-", 1)[1])}
    return {}


def _split(text: str, n: int) -> list[str]:
    n = max(1, n)
    size = max(1, -(-len(text) // n))
    parts = [text[i : i + size] for i in range(0, len(text), size)]
    return (parts + [""] * n)[:n]


def error_body(status: int, message: str, *, reason: str | None = None, retry_after: str | None = None) -> dict:
    """Gemini's error shape: {"error": {"code", "message", "status", "details"?}}."""
    error: dict[str, Any] = {"code": status, "message": message, "status": _STATUS_NAMES.get(status, "UNKNOWN")}
    details = []
    if reason:
        details.append(
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": reason,
                "domain": "googleapis.com",
                "metadata": {"service": "generativelanguage.googleapis.com"},
            }
        )
    if retry_after:
        details.append({"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": f"{retry_after}s"})
    if details:
        error["details"] = details
    return {"error": error}


def _usage(prompt: int, candidates: int, thoughts: int, b: dict[str, Any]) -> dict[str, Any]:
    usage: dict[str, Any] = {"promptTokenCount": prompt}
    if candidates:
        usage["candidatesTokenCount"] = candidates
    usage["totalTokenCount"] = prompt + candidates + thoughts
    if b.get("cached_tokens"):
        usage["cachedContentTokenCount"] = int(b["cached_tokens"])
    usage["promptTokensDetails"] = [{"modality": "TEXT", "tokenCount": prompt}]
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    return usage


def fake_vector(text: str, size: int) -> list[float]:
    """A deterministic embedding of `text`: equal texts, equal vectors."""
    digest = hashlib.sha256(text.encode()).digest() * (size // 32 + 1)
    return [round(digest[i] / 127.5 - 1, 6) for i in range(size)]


def merge_fragments(fragments: list[dict[str, Any]]) -> dict[str, Any]:
    """The generateContent answer a stream adds up to: parts joined, last finishReason and usage."""
    last = fragments[-1]
    if not last.get("candidates"):
        return last
    parts: list[dict[str, Any]] = []
    for fragment in fragments:
        for part in fragment["candidates"][0].get("content", {}).get("parts", []):
            prev = parts[-1] if parts else None
            if prev and "text" in part and "text" in prev and part.get("thought") == prev.get("thought"):
                parts[-1] = {**prev, "text": prev["text"] + part["text"]}
            else:
                parts.append(dict(part))
    candidate = dict(last["candidates"][0])
    if parts:
        candidate["content"] = {"parts": parts, "role": "model"}
    return {**last, "candidates": [candidate]}


@dataclass
class FakeGemini(FakeServer):
    """Gemini's `/v1beta/...` surface, scriptable per model; `api_key=None` accepts any key."""

    api_key: str | None = None

    def routes(self, app: web.Application) -> None:
        app.router.add_post(r"/v1beta/models/{target:[^/]+}", self.call)
        app.router.add_get("/v1beta/models", self.models)

    def _authorize(self, request: web.Request) -> None:
        key = request.headers.get("x-goog-api-key")
        if not key:
            raise GeminiRejection(
                "Method doesn't allow unregistered callers (callers without established identity). "
                "Please use API Key or other form of API consumer identity to call this API.",
                403,
            )
        if self.api_key is not None and key != self.api_key:
            raise GeminiRejection("API key not valid. Please pass a valid API key.", 400, "API_KEY_INVALID")

    async def models(self, request: web.Request) -> web.Response:
        try:
            self._authorize(request)
        except GeminiRejection as exc:
            return web.json_response(error_body(exc.status, exc.message, reason=exc.reason), status=exc.status)
        behaviour = self.next_behaviour("__models__") or {}
        if "status" in behaviour:
            status = int(behaviour["status"])
            return web.json_response(error_body(status, "down"), status=status)
        generate = ["generateContent", "countTokens", "createCachedContent"]
        return web.json_response(
            {
                "models": [
                    {
                        "name": "models/gemini-fake",
                        "version": "001",
                        "displayName": "Gemini Fake",
                        "description": "A fake model.",
                        "inputTokenLimit": 1048576,
                        "outputTokenLimit": 65536,
                        "supportedGenerationMethods": generate,
                        "temperature": 1,
                        "topP": 0.95,
                        "topK": 64,
                        "maxTemperature": 2,
                        "thinking": True,
                    },
                    {
                        "name": "models/text-embedding-fake",
                        "version": "004",
                        "displayName": "Text Embedding Fake",
                        "description": "A fake embedding model.",
                        "inputTokenLimit": 2048,
                        "outputTokenLimit": 1,
                        "supportedGenerationMethods": ["embedContent", "batchEmbedContents"],
                    },
                ]
            }
        )

    async def call(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        try:
            self._authorize(request)
            try:
                doc = json.loads(await request.read())
            except ValueError:
                raise GeminiRejection("Invalid JSON payload received. Unexpected token.") from None
            if method in ("generateContent", "streamGenerateContent"):
                validate_generate(doc)
                return await self._generate(request, doc, model, method)
            if method == "batchEmbedContents":
                return self._embed(validate_embed(doc, model), doc, many=True)
            if method == "embedContent":
                request_doc = {**doc, "model": doc.get("model", f"models/{model}")}
                return self._embed(validate_embed({"requests": [request_doc]}, model), doc, many=False)
            raise GeminiRejection(f"Method not found: {method}", 404)
        except GeminiRejection as exc:
            return web.json_response(error_body(exc.status, exc.message, reason=exc.reason), status=exc.status)

    def _embed(self, texts: list[str], doc: dict[str, Any], *, many: bool) -> web.Response:
        requests = doc.get("requests") or [doc]
        vectors = []
        for text, req in zip(texts, requests, strict=True):
            vectors.append({"values": fake_vector(text, int(_get(req, "outputDimensionality") or 8))})
        return web.json_response({"embeddings": vectors} if many else {"embedding": vectors[0]})

    def _failure(self, b: dict[str, Any], model: str) -> web.Response:
        status = int(b["status"])
        headers = dict(b.get("headers") or {})
        if b.get("retry_after"):
            headers["Retry-After"] = str(b["retry_after"])
        if "body" in b:
            return web.json_response(b["body"], status=status, headers=headers)
        message = b.get("message") or _MESSAGES.get(status) or f"fake error {status} for {model}"
        body = error_body(status, message, retry_after=b.get("retry_after"))
        return web.json_response(body, status=status, headers=headers)

    async def _generate(self, request: web.Request, doc: dict[str, Any], model: str, method: str) -> Any:
        b = behaviour_for(model)
        b.update(self.next_behaviour(model) or {})
        if b.get("delay_ms"):
            await asyncio.sleep(b["delay_ms"] / 1000)
        if b.get("stall"):
            await asyncio.sleep(60)
        if "status" in b and (b["status"] != 200 or "body" in b):
            return self._failure(b, model)
        fragments = self._fragments(doc, model, b)
        if method == "generateContent":
            return web.json_response(merge_fragments(fragments))
        if request.query.get("alt") == "sse":
            return await self._sse(request, fragments, b)
        array = "[" + ",\r\n".join(json.dumps(f) for f in fragments) + "]"
        return web.Response(text=array, content_type="application/json")

    def _pieces(self, doc: dict[str, Any], model: str, b: dict[str, Any]) -> list[list[dict[str, Any]]]:
        contents = doc.get("contents")
        results = _function_responses(contents)
        if b.get("tool_call") and not results:
            return [
                [
                    {
                        "functionCall": {"name": "get_weather", "args": {"city": "Paris"}},
                        "thoughtSignature": "ZmFrZS1zaWduYXR1cmU=",
                    }
                ],
                [{"functionCall": {"name": "get_weather", "args": {"city": "Tokyo"}}}],
            ]
        pieces: list[list[dict[str, Any]]] = []
        if b.get("thinking") and _wants_thoughts(doc):
            pieces += [
                [{"text": "Let me think about this. ", "thought": True}],
                [{"text": "The answer is clear.", "thought": True}],
            ]
        if b.get("text") is not None:
            text = str(b["text"])
        elif results:
            text = "Tool results: " + " | ".join(json.dumps(r.get("response")) for r in results)
        else:
            text = f"Hello from {model}. You said: {_last_user_text(contents)}"
        pieces += [[{"text": piece}] for piece in _split(text, int(b.get("chunks", 5)))]
        return pieces

    def _fragments(self, doc: dict[str, Any], model: str, b: dict[str, Any]) -> list[dict[str, Any]]:
        digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()
        base = {"modelVersion": model, "responseId": "fake" + digest[:20]}
        prompt = max(1, len(json.dumps(doc.get("contents"))) // 4)
        if b.get("blocked"):
            feedback = {
                "blockReason": "SAFETY",
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                ],
            }
            return [{"promptFeedback": feedback, "usageMetadata": _usage(prompt, 0, 0, b), **base}]
        if b.get("safety"):
            candidate = {
                "finishReason": "SAFETY",
                "index": 0,
                "safetyRatings": [
                    {"category": "HARM_CATEGORY_DANGEROUS_CONTENT", "probability": "HIGH", "blocked": True}
                ],
            }
            return [{"candidates": [candidate], "usageMetadata": _usage(prompt, 0, 0, b), **base}]
        pieces = self._pieces(doc, model, b)
        thoughts = 24 if b.get("thinking") else 0
        fragments, produced = [], 0
        for index, parts in enumerate(pieces):
            produced += sum(len(p.get("text", "")) if not p.get("thought") else 0 for p in parts)
            produced += sum(20 for p in parts if "functionCall" in p)
            candidate: dict[str, Any] = {"content": {"parts": parts, "role": "model"}, "index": 0}
            if index == len(pieces) - 1 and not b.get("no_finish"):
                candidate["finishReason"] = b.get("finish_reason", "STOP")
            usage = _usage(prompt, max(1, produced // 4), thoughts, b)
            fragments.append({"candidates": [candidate], "usageMetadata": usage, **base})
        return fragments

    async def _sse(self, request: web.Request, fragments: list[dict[str, Any]], b: dict[str, Any]) -> Any:
        headers = {"Content-Type": "text/event-stream", "Cache-Control": "no-cache"}
        resp = web.StreamResponse(headers={**headers, "X-Content-Type-Options": "nosniff"})
        await resp.prepare(request)
        if b.get("stall_first"):
            await asyncio.sleep(60)
        for index, fragment in enumerate(fragments):
            if b.get("cut_after") is not None and index >= int(b["cut_after"]):
                assert request.transport is not None
                request.transport.abort()
                return resp
            if b.get("stall_after") is not None and index >= int(b["stall_after"]):
                await asyncio.sleep(60)
            await resp.write(b"data: " + json.dumps(fragment).encode() + b"\r\n\r\n")
            if b.get("chunk_delay_ms"):
                await asyncio.sleep(b["chunk_delay_ms"] / 1000)
        await resp.write_eof()
        return resp
