"""POST /v1/chat/completions: OpenAI Chat Completions in, any upstream out."""

from __future__ import annotations

from app.api.decode import decode_json_object, validate_envelope
from app.errors import UnsupportedFeatureError
from app.gateway.call import Parsed
from app.gateway.chat_passthrough import ChatPassthrough
from app.gateway.exchange import Exchange
from app.wire.openai_chat import ChatEnvelope

__all__ = ["parse_chat"]


def parse_chat(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, ChatEnvelope)
    stream = bool(envelope.stream)
    wants_usage = bool(envelope.stream_options and envelope.stream_options.include_usage)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(dialect: str) -> Exchange:
        found = exchanges.get(dialect)
        if found is None:
            if dialect != "chat":
                raise UnsupportedFeatureError(f"Chat Completions cannot be sent to a '{dialect}' upstream yet")
            found = exchanges[dialect] = ChatPassthrough(body, wants_usage)
        return found

    return Parsed(
        model=envelope.model,
        stream=stream,
        body=body,
        exchanges=exchange_for,
        max_output_tokens=envelope.max_completion_tokens or envelope.max_tokens,
    )
