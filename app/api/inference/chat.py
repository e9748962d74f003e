"""POST /v1/chat/completions: OpenAI Chat Completions in, any upstream out."""

from __future__ import annotations

from app.api.decode import decode_json_object, validate_envelope
from app.gateway.bridges.client import ChatClient
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.call import Parsed
from app.gateway.chat_passthrough import ChatPassthrough
from app.gateway.exchange import Exchange
from app.gateway.translating import TranslatingExchange
from app.providers.base import ProviderAdapter
from app.wire.openai_chat import ChatEnvelope

__all__ = ["parse_chat"]


def parse_chat(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ChatEnvelope)
    wants_usage = bool(envelope.stream_options and envelope.stream_options.include_usage)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        found = exchanges.get(adapter.dialect)
        if found is None:
            if adapter.dialect == "chat":
                found = ChatPassthrough(body, wants_usage)
            else:
                found = TranslatingExchange(ChatClient(body, wants_usage), UPSTREAM_BRIDGES[adapter.dialect])
            exchanges[adapter.dialect] = found
        return found

    return Parsed(
        model=envelope.model,
        stream=bool(envelope.stream),
        body=body,
        exchanges=exchange_for,
        max_output_tokens=envelope.max_completion_tokens or envelope.max_tokens,
        hub_chat=lambda: body,
    )
