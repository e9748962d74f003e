"""POST /v1/completions: the legacy Completions API in, any upstream out (app/gateway/completions.py)."""

from __future__ import annotations

from app.api.decode import decode_json_object, validate_envelope
from app.errors import InvalidRequestError
from app.gateway.bridges.client import CompletionsClient
from app.gateway.bridges.upstream import UPSTREAM_BRIDGES
from app.gateway.call import Parsed
from app.gateway.completions import CompletionsOnChat, NativeCompletions
from app.gateway.exchange import Exchange
from app.gateway.translating import TranslatingExchange
from app.providers.base import ProviderAdapter
from app.translate.completions import hook_chat, prompt_texts
from app.wire.openai_misc import CompletionsEnvelope, prompt_kind

__all__ = ["parse_completions"]


def parse_completions(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, CompletionsEnvelope)
    if prompt_kind(envelope.prompt) is None:
        raise InvalidRequestError(
            "Invalid value for 'prompt': expected a string, a list of strings, a list of token ids "
            "or a list of lists of token ids",
            param="prompt",
        )
    wants_usage = bool(envelope.stream_options and envelope.stream_options.include_usage)
    exchanges: dict[str, Exchange] = {}

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        found = exchanges.get(adapter.dialect)
        if found is None:
            via_chat = TranslatingExchange(CompletionsClient(body, wants_usage), UPSTREAM_BRIDGES[adapter.dialect])
            if adapter.dialect == "chat":
                found = CompletionsOnChat(NativeCompletions(body, wants_usage), via_chat)
            else:
                found = via_chat
            exchanges[adapter.dialect] = found
        return found

    # Request hooks read the chat form, which text prompts have (token ids have none); a recovery
    # continues it through chat, which only makes sense for one prompt and no suffix.
    texts = prompt_texts(body)
    return Parsed(
        model=envelope.model,
        stream=bool(envelope.stream),
        body=body,
        exchanges=exchange_for,
        max_output_tokens=envelope.max_tokens or None,
        hub_chat=(lambda: hook_chat(body)) if texts is not None else None,
        recoverable=texts is not None and len(texts) == 1 and not body.get("suffix"),
    )
