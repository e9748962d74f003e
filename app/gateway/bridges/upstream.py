"""Upstream bridges: Chat Completions (the hub dialect) <-> each upstream dialect.

A bridge turns the hub's chat request into the upstream's body, the upstream's whole answer
into a chat completion, and the upstream's SSE frames into chat chunks. Pure: no I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

import msgspec

from app.gateway.exchange import BadUpstreamReply, UpstreamStreamError
from app.providers.errors import ANTHROPIC_ERROR_STATUS
from app.translate.chat_to_messages import MessagesToChatStream, chat_request_to_messages, messages_response_to_chat
from app.translate.converse.request import chat_request_to_converse
from app.translate.converse.response import ConverseToChatStream, converse_response_to_chat
from app.translate.gemini.request import chat_request_to_gemini
from app.translate.gemini.response import GeminiToChatStream, gemini_response_to_chat

__all__ = ["UPSTREAM_BRIDGES", "MalformedFrame", "UpstreamBridge", "UpstreamChunks"]

Json = dict[str, Any]
_decode = msgspec.json.decode


class MalformedFrame(Exception):
    """A frame whose data is not JSON: skipped and counted, never fatal."""


def decode_frame(data: bytes) -> Json:
    try:
        doc = _decode(data)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise MalformedFrame() from None
    if not isinstance(doc, dict):
        raise MalformedFrame()
    return doc


def decode_reply(body: bytes) -> Json:
    try:
        doc = _decode(body)
    except (msgspec.DecodeError, UnicodeDecodeError):
        raise BadUpstreamReply("upstream returned a body that is not JSON") from None
    if not isinstance(doc, dict):
        raise BadUpstreamReply("upstream returned a JSON body that is not an object")
    if "error" in doc and isinstance(doc["error"], dict):
        raise BadUpstreamReply(f"upstream returned an error: {doc['error'].get('message') or doc['error']}")
    return doc


class UpstreamChunks(Protocol):
    """Upstream SSE frames -> chat chunks, for one streaming attempt."""

    @property
    def done(self) -> bool:
        """The upstream's end-of-stream marker arrived: stop reading."""
        ...

    @property
    def complete(self) -> bool:
        """The answer is whole (terminator or final finish reason seen)."""
        ...

    def feed(self, event: bytes | None, data: bytes) -> list[Json]: ...

    def finish(self) -> list[Json]:
        """Chunks owed after the body ended (e.g. Gemini's usage chunk)."""
        ...


class UpstreamBridge(Protocol):
    dialect: str

    def request(self, chat: Json, model: str, stream: bool) -> Json: ...

    def reply(self, doc: Json, public_model: str) -> Json: ...

    def chunks(self, public_model: str) -> UpstreamChunks: ...


# -- chat ---------------------------------------------------------------------------------------


class _ChatChunks:
    def __init__(self, public_model: str) -> None:
        self.public_model = public_model
        self.done = False
        self._finished = False

    @property
    def complete(self) -> bool:
        return self.done or self._finished

    def feed(self, event: bytes | None, data: bytes) -> list[Json]:
        if data == b"[DONE]":
            self.done = True
            return []
        chunk = decode_frame(data)
        error = chunk.get("error")
        if error is not None and not chunk.get("choices"):
            message = error.get("message") if isinstance(error, dict) else error
            raise UpstreamStreamError(str(message or "upstream sent an error event"))
        chunk["model"] = self.public_model
        for choice in chunk.get("choices") or ():
            if isinstance(choice, dict) and choice.get("finish_reason"):
                self._finished = True
        return [chunk]

    def finish(self) -> list[Json]:
        return []


class ChatBridge:
    dialect = "chat"

    def request(self, chat: Json, model: str, stream: bool) -> Json:
        body = {**chat, "model": model, "stream": stream}
        if stream:
            options = chat.get("stream_options")
            body["stream_options"] = {**(options if isinstance(options, dict) else {}), "include_usage": True}
        else:
            body.pop("stream_options", None)
        return body

    def reply(self, doc: Json, public_model: str) -> Json:
        if not isinstance(doc.get("choices"), list):
            raise BadUpstreamReply("upstream returned no choices")
        return {**doc, "model": public_model}

    def chunks(self, public_model: str) -> UpstreamChunks:
        return _ChatChunks(public_model)


# -- anthropic ----------------------------------------------------------------------------------


class _AnthropicChunks:
    def __init__(self, public_model: str) -> None:
        self._t = MessagesToChatStream(public_model=public_model)

    @property
    def done(self) -> bool:
        return self._t.done

    @property
    def complete(self) -> bool:
        return self._t.done

    def feed(self, event: bytes | None, data: bytes) -> list[Json]:
        doc = decode_frame(data)
        name = event.decode() if event else doc.get("type")
        return self._t.feed(str(name) if name else None, doc)

    def finish(self) -> list[Json]:
        return []


class AnthropicBridge:
    dialect = "anthropic"

    def request(self, chat: Json, model: str, stream: bool) -> Json:
        return chat_request_to_messages({**chat, "stream": stream}, model)

    def reply(self, doc: Json, public_model: str) -> Json:
        if not isinstance(doc.get("content"), list):
            raise BadUpstreamReply("upstream returned no message content")
        return messages_response_to_chat(doc, public_model)

    def chunks(self, public_model: str) -> UpstreamChunks:
        return _AnthropicChunks(public_model)


# -- gemini -------------------------------------------------------------------------------------


class _GeminiChunks:
    done = False  # Gemini has no end-of-stream event: the body simply ends

    def __init__(self, public_model: str) -> None:
        self._t = GeminiToChatStream(public_model=public_model)

    @property
    def complete(self) -> bool:
        return self._t.done

    def feed(self, event: bytes | None, data: bytes) -> list[Json]:
        chunks = self._t.feed(decode_frame(data))
        if self._t.error is not None:
            raise UpstreamStreamError(str(self._t.error.get("message") or "upstream sent an error"))
        return chunks

    def finish(self) -> list[Json]:
        return self._t.finish()


class GeminiBridge:
    dialect = "gemini"

    def request(self, chat: Json, model: str, stream: bool) -> Json:
        return chat_request_to_gemini(chat, model)

    def reply(self, doc: Json, public_model: str) -> Json:
        if not isinstance(doc.get("candidates"), list) and "promptFeedback" not in doc:
            raise BadUpstreamReply("upstream returned no candidates")
        return gemini_response_to_chat(doc, public_model)

    def chunks(self, public_model: str) -> UpstreamChunks:
        return _GeminiChunks(public_model)


# -- converse (Bedrock) ---------------------------------------------------------------------------


class _ConverseChunks:
    def __init__(self, public_model: str) -> None:
        self._t = ConverseToChatStream(public_model)

    @property
    def done(self) -> bool:
        return self._t.done

    @property
    def complete(self) -> bool:
        return self._t.complete

    def feed(self, event: bytes | None, data: bytes) -> list[Json]:
        doc = decode_frame(data)
        name = event.decode() if event else ""
        if name == "error":  # an exception in Bedrock's event stream, as BedrockStreamSplitter renders it
            found = doc.get("error")
            error: Json = found if isinstance(found, dict) else {}
            message = str(error.get("message") or "Bedrock sent an exception in the stream")
            raise UpstreamStreamError(message, ANTHROPIC_ERROR_STATUS.get(str(error.get("type"))))
        return self._t.feed(name, doc)

    def finish(self) -> list[Json]:
        return self._t.finish()


class ConverseBridge:
    dialect = "converse"

    def request(self, chat: Json, model: str, stream: bool) -> Json:
        return chat_request_to_converse(chat)  # the model and the stream are in the URL

    def reply(self, doc: Json, public_model: str) -> Json:
        try:
            return converse_response_to_chat(doc, public_model)
        except ValueError as exc:
            raise BadUpstreamReply(str(exc)) from None

    def chunks(self, public_model: str) -> UpstreamChunks:
        return _ConverseChunks(public_model)


UPSTREAM_BRIDGES: dict[str, UpstreamBridge] = {
    b.dialect: b for b in (ChatBridge(), AnthropicBridge(), GeminiBridge(), ConverseBridge())
}
