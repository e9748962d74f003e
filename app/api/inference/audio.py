"""Upload endpoints through the router: audio (speech, transcriptions, translations) and image edits and variations."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import msgspec

from app.accounting.events import Usage
from app.api.decode import decode_json_object, validate_envelope
from app.errors import InvalidRequestError, UnsupportedFeatureError
from app.gateway.audio import (
    JSON_FORMATS,
    SpeechExchange,
    TranscriptionExchange,
    openai_audio_adapter,
    speech_usage,
    wav_seconds,
)
from app.gateway.call import Call, Parsed, Reply
from app.gateway.exchange import Exchange
from app.gateway.image_uploads import ImageUploadExchange
from app.gateway.multipart import parse_form
from app.providers.base import ProviderAdapter

__all__ = [
    "parse_image_edit",
    "parse_image_variation",
    "parse_speech",
    "parse_transcription",
    "parse_translation",
    "upload_handler",
]

_FORMATS = frozenset({*JSON_FORMATS, "text", "srt", "vtt"})
_TEXT = b"text/plain; charset=utf-8"


class SpeechEnvelope(msgspec.Struct):
    """What the router reads of a speech request; every other field goes upstream untouched."""

    model: str
    input: str


def parse_speech(raw: bytes) -> Parsed:
    body = decode_json_object(raw)
    envelope = validate_envelope(body, SpeechEnvelope)
    if not envelope.input:
        raise InvalidRequestError("'input' must not be empty", param="input")
    usage = speech_usage(envelope.input)

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        openai_audio_adapter(adapter, "Text-to-speech")
        return SpeechExchange(body, usage)

    # Always a stream: the audio reaches the caller as the upstream produces it.
    return Parsed(model=envelope.model, stream=True, body=body, exchanges=exchange_for)


def _parse_upload(raw: bytes, content_type: str | None, *, path: str, what: str) -> Parsed:
    form = parse_form(raw, content_type)
    model = form.value("model")
    if not model:
        raise InvalidRequestError("Missing required field 'model'", param="model")
    upload = form.part("file")
    if upload is None or upload.filename is None:
        raise InvalidRequestError("Missing required field 'file' (an audio file upload)", param="file")
    if upload.size == 0:
        raise InvalidRequestError("The uploaded 'file' is empty", param="file")
    response_format = form.value("response_format") or "json"
    if response_format not in _FORMATS:
        allowed = ", ".join(sorted(_FORMATS))
        raise InvalidRequestError(f"'response_format' must be one of {allowed}", param="response_format")
    stream = (form.value("stream") or "false").strip().lower() == "true"
    seconds = wav_seconds(form.data(upload))
    usage = Usage(audio_seconds=seconds, estimated=True) if seconds is not None else Usage()

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        openai_audio_adapter(adapter, what)
        return TranscriptionExchange(form, path, what, response_format, usage)

    return Parsed(model=model, stream=stream, body=dict(form.fields()), exchanges=exchange_for)


def parse_transcription(raw: bytes, content_type: str | None = None) -> Parsed:
    return _parse_upload(raw, content_type, path="/audio/transcriptions", what="Transcription")


def parse_translation(raw: bytes, content_type: str | None = None) -> Parsed:
    return _parse_upload(raw, content_type, path="/audio/translations", what="Translation")


def _text_reply(reply: Reply) -> Reply:
    headers = [(k, _TEXT if k == b"content-type" else v) for k, v in reply.headers]
    return Reply(reply.status, headers, reply.body, reply.stream)


def _parse_images(raw: bytes, content_type: str | None, *, path: str, what: str, prompt: bool) -> Parsed:
    form = parse_form(raw, content_type)
    model = form.value("model")
    if not model:
        # OpenAI would default to dall-e-2; the gateway needs a name to route by.
        raise InvalidRequestError("Missing required field 'model'", param="model")
    images = [p for p in form.parts if p.name in ("image", "image[]") and p.filename is not None]
    if not images:
        raise InvalidRequestError("Missing required field 'image' (an image file upload)", param="image")
    if any(p.size == 0 for p in images):
        raise InvalidRequestError("An uploaded 'image' is empty", param="image")
    if prompt and not form.value("prompt"):
        raise InvalidRequestError("Missing required field 'prompt'", param="prompt")
    if (form.value("stream") or "false").strip().lower() == "true":
        raise UnsupportedFeatureError(f"Streaming {what.lower()} is not supported", param="stream")

    def exchange_for(adapter: ProviderAdapter) -> Exchange:
        if not adapter.capabilities.images:
            raise UnsupportedFeatureError(f"{what} is not supported by {adapter.kind} upstreams")
        return ImageUploadExchange(form, path, what)

    return Parsed(model=model, stream=False, body=dict(form.fields()), exchanges=exchange_for)


def parse_image_edit(raw: bytes, content_type: str | None = None) -> Parsed:
    return _parse_images(raw, content_type, path="/images/edits", what="Image editing", prompt=True)


def parse_image_variation(raw: bytes, content_type: str | None = None) -> Parsed:
    return _parse_images(raw, content_type, path="/images/variations", what="Image variation", prompt=False)


def upload_handler(
    parse: Callable[[bytes, str | None], Parsed],
) -> Callable[[Any], Callable[[Call], Awaitable[Reply]]]:
    """The pipeline for an upload endpoint: the form is read with the request's content type, and a
    plain-text `response_format` (transcripts) is answered as text/plain."""

    def wrap(gateway: Any) -> Callable[[Call], Awaitable[Reply]]:
        async def handle(call: Call) -> Reply:
            content_type = call.headers.get("content-type")
            call.parse = lambda raw: parse(raw, content_type)
            reply: Reply = await gateway.handle(call)
            body = call.parsed.body if call.parsed is not None else {}
            if reply.stream is None and body.get("response_format") in ("text", "srt", "vtt"):
                return _text_reply(reply)
            return reply

        return handle

    return wrap
