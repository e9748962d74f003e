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

Their bodies and answers are `tests.fakes.bedrock_converse`'s.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from botocore.auth import SigV4Auth  # type: ignore[import-untyped]
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from tests.fakes import anthropic
from tests.fakes.aws_eventstream import chunk_message, cut_by_exception
from tests.fakes.bedrock_converse import converse_answer, converse_event, converse_stream_events, validate_converse
from tests.fakes.server import FakeServer

__all__ = ["BEDROCK_VERSION", "BedrockCall", "FakeBedrock", "behaviour_for"]

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

    async def _accepted(
        self, request: web.Request, stream: bool, body_problem: Callable[[dict[str, Any], str], str | None]
    ) -> tuple[str, dict[str, Any], dict[str, Any]] | web.StreamResponse:
        """Auth, the body's rules and the model's behaviour, as every invocation takes them: (model id, body,
        behaviour), or the error answer. The call is recorded whenever its body parsed."""
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
        if not isinstance(doc, dict):
            return self._error(400, "Malformed input request, please reformat your input and try again.")
        invalid = body_problem(doc, model_id)
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
        return model_id, doc, b

    async def _invoke(self, request: web.Request, *, stream: bool) -> web.StreamResponse:
        started = time.monotonic()
        found = await self._accepted(request, stream, self._body_problem)
        if isinstance(found, web.StreamResponse):
            return found
        model_id, doc, b = found
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
        return cut_by_exception(encoded, b)

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
        found = await self._accepted(request, stream, lambda doc, model_id: validate_converse(doc))
        if isinstance(found, web.StreamResponse):
            return found
        model_id, doc, b = found
        answer = converse_answer(doc, model_id, b, max(1, round((time.monotonic() - started) * 1000)))
        if not stream:
            return web.json_response(answer, headers={"x-amzn-RequestId": _REQUEST_ID})
        events = converse_stream_events(answer, {k: v for k, v in b.items() if k != "stream_error"})
        encoded = [converse_event(event, payload) for event, payload in events]
        return await self._send_stream(request, cut_by_exception(encoded, b), b)
