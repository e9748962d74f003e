"""Client bridges: the caller's dialect <-> Chat Completions (the hub), whole answers and streams."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

import msgspec

from app.gateway.exchange import Served
from app.translate.completions import (
    ChatToCompletionStream,
    chat_response_to_completion,
    completions_request_to_chat,
    single_prompt,
)
from app.translate.messages_to_chat import ChatToMessagesStream, chat_response_to_messages, messages_request_to_chat
from app.translate.messages_to_chat import ping_event as anthropic_ping
from app.translate.responses import ChatToResponsesStream, chat_response_to_responses, responses_request_to_chat

__all__ = ["ChatClient", "ClientBridge", "ClientStream", "CompletionsClient", "MessagesClient", "ResponsesClient"]

Json = dict[str, Any]
_encode = msgspec.json.encode


def _event(name: str, data: Json) -> bytes:
    return b"event: " + name.encode() + b"\ndata: " + _encode(data) + b"\n\n"


class ClientStream(Protocol):
    def start(self) -> bytes: ...

    def feed(self, chunk: Json) -> bytes: ...

    def finish(self) -> bytes: ...


class ClientBridge(Protocol):
    def to_chat(self) -> Json:
        """The caller's request as a chat request (computed once)."""
        ...

    def reply(self, chat: Json, served: Served) -> bytes: ...

    def stream(self, served: Served) -> ClientStream: ...


# -- chat ---------------------------------------------------------------------------------------


class _ChatStream:
    def __init__(self, wants_usage: bool) -> None:
        self._wants_usage = wants_usage

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: Json) -> bytes:
        if not chunk.get("choices") and chunk.get("usage") is not None and not self._wants_usage:
            return b""
        return b"data: " + _encode(chunk) + b"\n\n"

    def finish(self) -> bytes:
        return b"data: [DONE]\n\n"


class ChatClient:
    """Chat Completions caller on a non-chat upstream."""

    def __init__(self, body: Json, wants_usage: bool) -> None:
        self._body = body
        self._wants_usage = wants_usage

    def to_chat(self) -> Json:
        return self._body

    def reply(self, chat: Json, served: Served) -> bytes:
        return _encode(served.stamp(dict(chat)))

    def stream(self, served: Served) -> ClientStream:
        return _ChatStream(self._wants_usage)


# -- legacy completions -------------------------------------------------------------------------


class _CompletionsStream:
    def __init__(self, t: ChatToCompletionStream) -> None:
        self._t = t

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: Json) -> bytes:
        return b"".join(b"data: " + _encode(doc) + b"\n\n" for doc in self._t.feed(chunk))

    def finish(self) -> bytes:
        return b"data: [DONE]\n\n"


class CompletionsClient:
    """Legacy Completions caller on an upstream without a completions endpoint of its own."""

    def __init__(self, body: Json, wants_usage: bool) -> None:
        self._body = body
        self._wants_usage = wants_usage
        self._chat: Json | None = None
        self._echo = single_prompt(body) if body.get("echo") is True else None

    def to_chat(self) -> Json:
        if self._chat is None:
            self._chat = completions_request_to_chat(self._body)
        return self._chat

    def reply(self, chat: Json, served: Served) -> bytes:
        return _encode(served.stamp(chat_response_to_completion(chat, served.public_model, self._echo)))

    def stream(self, served: Served) -> ClientStream:
        return _CompletionsStream(ChatToCompletionStream(served.public_model, self._echo, self._wants_usage))


# -- anthropic messages -------------------------------------------------------------------------


class _MessagesStream:
    def __init__(self, served: Served, input_tokens: int) -> None:
        self._t = ChatToMessagesStream(public_model=served.public_model, input_tokens=input_tokens)
        self._pinged = False

    def start(self) -> bytes:
        return b""

    def feed(self, chunk: Json) -> bytes:
        out = b"".join(_event(name, data) for name, data in self._t.feed(chunk))
        if out and not self._pinged:
            self._pinged = True
            name, data = anthropic_ping()
            out += _event(name, data)
        return out

    def finish(self) -> bytes:
        return b"".join(_event(name, data) for name, data in self._t.finish())


class MessagesClient:
    """Anthropic Messages caller on a non-Anthropic upstream."""

    def __init__(self, body: Json, input_tokens: int) -> None:
        self._body = body
        self._chat: Json | None = None
        self._input_tokens = input_tokens

    def to_chat(self) -> Json:
        if self._chat is None:
            self._chat = messages_request_to_chat(self._body)
        return self._chat

    def reply(self, chat: Json, served: Served) -> bytes:
        return _encode(chat_response_to_messages(chat, served.public_model))

    def stream(self, served: Served) -> ClientStream:
        return _MessagesStream(served, self._input_tokens)


# -- responses ----------------------------------------------------------------------------------


class _ResponsesStream:
    def __init__(self, t: ChatToResponsesStream, on_done: Callable[[Json], None] | None) -> None:
        self._t = t
        self._on_done = on_done

    def start(self) -> bytes:
        return b"".join(_event(e["type"], e) for e in self._t.start())

    def feed(self, chunk: Json) -> bytes:
        return b"".join(_event(e["type"], e) for e in self._t.feed(chunk))

    def finish(self) -> bytes:
        out = b"".join(_event(e["type"], e) for e in self._t.finish())
        if self._on_done is not None:
            self._on_done(self._t.response)
        return out

    def fail(self, message: str) -> bytes:
        """`response.failed`, the Responses way to end a stream that broke (not stored)."""
        return b"".join(_event(e["type"], e) for e in self._t.fail(message, "server_error"))


class ResponsesClient:
    """OpenAI Responses caller on any upstream without native Responses support."""

    def __init__(
        self,
        body: Json,
        *,
        response_id: str,
        created_at: int,
        history: list[Json] | None = None,
        on_response: Callable[[Json, Json], None] | None = None,
    ) -> None:
        self._body = body
        self._history = history
        self._chat: Json | None = None
        self.response_id = response_id
        self.created_at = created_at
        self._on_response = on_response

    def to_chat(self) -> Json:
        if self._chat is None:
            self._chat = responses_request_to_chat(self._body, self._history)
        return self._chat

    def _store(self, response: Json) -> None:
        if self._on_response is not None:
            self._on_response(response, self.to_chat())

    def _request(self, served: Served) -> Json:
        return {**self._body, "model": served.public_model}

    def reply(self, chat: Json, served: Served) -> bytes:
        response = chat_response_to_responses(
            {**chat, "model": served.public_model},
            response_id=self.response_id,
            request=self._request(served),
            created_at=self.created_at,
        )
        self._store(response)
        return _encode(response)

    def stream(self, served: Served) -> ClientStream:
        t = ChatToResponsesStream(
            response_id=self.response_id, request=self._request(served), created_at=self.created_at
        )
        return _ResponsesStream(t, self._store)
