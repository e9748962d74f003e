"""POST /v1/messages: Anthropic Messages in, any upstream out."""

from __future__ import annotations

from app.api.decode import decode_json_object, validate_envelope
from app.gateway.bridges.client import MessagesClient
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.call import Parsed
from app.gateway.exchange import Exchange
from app.gateway.messages_passthrough import MessagesPassthrough
from app.gateway.translating import TranslatingExchange
from app.providers.base import ProviderAdapter
from app.translate.messages_to_chat import messages_request_to_chat
from app.wire.anthropic_messages import MessagesEnvelope

__all__ = ["parse_messages"]


def parse_messages(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, MessagesEnvelope)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        found = exchanges.get(adapter.dialect)
        if found is None:
            if adapter.dialect == "anthropic":
                found = MessagesPassthrough(body, raw)
            else:
                client = MessagesClient(body, input_tokens=len(raw) // 4)
                found = TranslatingExchange(client, UPSTREAM_BRIDGES[adapter.dialect])
            exchanges[adapter.dialect] = found
        return found

    return Parsed(
        model=envelope.model,
        stream=bool(envelope.stream),
        body=body,
        exchanges=exchange_for,
        max_output_tokens=envelope.max_tokens,
        hub_chat=lambda: messages_request_to_chat(body),
    )
