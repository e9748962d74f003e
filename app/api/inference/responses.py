"""POST /v1/responses: OpenAI Responses in, any upstream out; stored responses for continuation."""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable
from typing import Any

from app.api.decode import decode_json_object, validate_envelope
from app.conversations.store import ResponseStore, StoredResponse
from app.errors import NotFoundError, UnsupportedFeatureError
from app.gateway.bridges.client import ResponsesClient
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.call import Call, Parsed, Reply
from app.gateway.exchange import Exchange
from app.gateway.responses_passthrough import ResponsesPassthrough
from app.gateway.snapshot import KeyRecord
from app.gateway.translating import TranslatingExchange
from app.gateway.web_search import as_reply, needs_gateway_search, resolve_for, run_web_search
from app.providers.base import ProviderAdapter
from app.translate.responses import has_web_search, response_to_history, responses_request_to_chat
from app.wire.openai_responses import ResponsesEnvelope

__all__ = ["parse_responses", "responses_handler"]

Json = dict[str, Any]


class _Conversation:
    """What one Responses call knows once it is bound to its caller's key."""

    def __init__(self, body: Json, envelope: ResponsesEnvelope) -> None:
        self.body = body
        self.envelope = envelope
        self.response_id = "resp_" + os.urandom(12).hex()
        self.created_at = int(time.time())
        self.key_id: str | None = None
        self.store: ResponseStore | None = None
        self.history: list[Json] | None = None

    async def bind(self, key: KeyRecord, gateway: Any) -> None:
        self.key_id = key.id
        self.store = gateway.responses
        previous = self.envelope.previous_response_id
        if previous:
            assert self.store is not None
            found = await self.store.get(previous, key.id)
            if found is None:
                raise NotFoundError(f"Previous response '{previous}' not found", param="previous_response_id")
            self.history = found.history()

    def keep(self, response: Json, chat: Json | None = None) -> None:
        if self.store is None or self.envelope.store is False or not isinstance(response.get("id"), str):
            return
        body, history = self.body, self.history

        def build() -> list[Json]:
            request = chat if chat is not None else responses_request_to_chat(body, history)
            return response_to_history(request.get("messages") or [], response)

        self.store.put(StoredResponse(response["id"], self.key_id, response, None, build))


def parse_responses(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ResponsesEnvelope)
    if envelope.input is None:
        from app.errors import InvalidRequestError

        raise InvalidRequestError("Missing required field 'input'", param="input")
    conversation = _Conversation(body, envelope)
    exchanges: dict[str, Exchange] = {}
    forward = {k: v for k, v in body.items() if k != "previous_response_id"}

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        native = adapter.capabilities.responses_native and conversation.history is None
        slot = "native" if native else adapter.dialect
        found = exchanges.get(slot)
        if found is None:
            if native:
                found = ResponsesPassthrough(body, conversation.keep)
            elif has_web_search(body):  # never dropped silently (the gateway-run search avoids this path)
                raise UnsupportedFeatureError(
                    f"The web_search tool is not supported by {adapter.kind} upstreams here", param="tools"
                )
            else:
                client = ResponsesClient(
                    forward,
                    response_id=conversation.response_id,
                    created_at=conversation.created_at,
                    history=conversation.history,
                    on_response=conversation.keep,
                )
                found = TranslatingExchange(client, UPSTREAM_BRIDGES[adapter.dialect])
            exchanges[slot] = found
        return found

    return Parsed(
        model=envelope.model,
        stream=bool(envelope.stream),
        body=body,
        exchanges=exchange_for,
        max_output_tokens=envelope.max_output_tokens,
        bind=conversation.bind,
        hub_chat=lambda: responses_request_to_chat(forward, conversation.history),
    )


def responses_handler(gateway: Any) -> Callable[[Call], Awaitable[Reply]]:
    """The pipeline, unless the request needs the gateway-run web_search loop."""

    async def handle(call: Call) -> Reply:
        if b"web_search" not in call.raw:
            return await gateway.handle(call)
        body = decode_json_object(call.raw)
        envelope = validate_envelope(body, ResponsesEnvelope)
        snapshot = gateway.catalog.snapshot
        key, resolved = resolve_for(call, body, snapshot)
        if not needs_gateway_search(body, resolved, snapshot):
            return await gateway.handle(call)
        conversation = _Conversation(body, envelope)
        await conversation.bind(key, gateway)
        response = await run_web_search(gateway, call, body, conversation.history, key, keep=conversation.keep)
        return as_reply(response, bool(envelope.stream))

    return handle
