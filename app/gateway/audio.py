"""Audio as exchanges: text-to-speech streamed back as it arrives, transcription and translation uploads.

Speech is a JSON request whose answer is binary audio: it runs as a stream through a `BinaryRelay`
so the caller receives bytes as the upstream produces them. Transcriptions and translations are
multipart uploads: only the `model` part is rewritten to the target's model, every other part
goes upstream byte for byte. Only OpenAI-shaped upstreams (kinds `openai`, `openai-compatible`)
serve audio; any other target is a clear 400.

Usage: speech counts the input's characters (and its tokens, estimated, for token-priced models);
transcription takes what the upstream reports (tokens, or a `duration` in seconds), else the
length of a WAV upload read from its header, else nothing, which `cost_per_request` can price.
"""

from __future__ import annotations

import dataclasses
import io
import wave
from typing import Any

import msgspec

from app.accounting.events import Usage
from app.accounting.tokens import count_tokens
from app.errors import UnsupportedFeatureError
from app.gateway.bridges.upstream import decode_reply
from app.gateway.exchange import BinaryRelay, Served, StreamRelay
from app.gateway.multipart import Form
from app.gateway.snapshot import ProviderEntry
from app.providers.base import ProviderAdapter, UpstreamRequest
from app.providers.openai import OpenAIAdapter

__all__ = [
    "JSON_FORMATS",
    "SpeechExchange",
    "TranscriptionExchange",
    "openai_audio_adapter",
    "speech_usage",
    "transcription_usage",
    "wav_seconds",
]

Json = dict[str, Any]
JSON_FORMATS = frozenset({"json", "verbose_json", "diarized_json"})
"""Transcription formats answered as JSON; `text`, `srt` and `vtt` are plain text."""


def openai_audio_adapter(adapter: ProviderAdapter, what: str) -> OpenAIAdapter:
    if not isinstance(adapter, OpenAIAdapter):
        raise UnsupportedFeatureError(f"{what} is not supported by {adapter.kind} upstreams")
    return adapter


def speech_usage(text: str) -> Usage:
    return Usage(characters=len(text), prompt_tokens=count_tokens(text), estimated=True)


def wav_seconds(data: bytes) -> float | None:
    """The length of a WAV file from its header; None for anything else."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    try:
        with wave.open(io.BytesIO(data)) as wav:
            rate = wav.getframerate()
            return wav.getnframes() / rate if rate else None
    except (wave.Error, EOFError, ValueError):
        return None


def transcription_usage(doc: Json, fallback: Usage) -> Usage:
    """Tokens when the upstream reports them, else its duration in seconds, else the estimate."""
    raw = doc.get("usage")
    if isinstance(raw, dict):
        if raw.get("type") == "duration" and isinstance(raw.get("seconds"), int | float):
            return Usage(audio_seconds=float(raw["seconds"]))
        if isinstance(raw.get("input_tokens"), int):
            return Usage(prompt_tokens=int(raw["input_tokens"]), completion_tokens=int(raw.get("output_tokens") or 0))
    duration = doc.get("duration")
    if isinstance(duration, int | float) and not isinstance(duration, bool):
        return Usage(audio_seconds=float(duration))
    return fallback


class SpeechExchange:
    """POST /audio/speech: JSON in, the upstream's audio bytes out as they arrive."""

    upstream_dialect = "chat"

    def __init__(self, body: Json, usage: Usage) -> None:
        self._body = body
        self._usage = usage

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return msgspec.json.encode({**self._body, "model": model})

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        openai = openai_audio_adapter(adapter, "Text-to-speech")
        req = openai.endpoint(provider, "/audio/speech", self.upstream_body(provider, model, stream), model)
        return dataclasses.replace(req, headers={**req.headers, "accept": "*/*"})

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        return body, self._usage

    def stream(self, served: Served) -> StreamRelay:
        return BinaryRelay(self._usage)


class TranscriptionExchange:
    """POST /audio/transcriptions or /audio/translations: the caller's form with only `model` replaced."""

    upstream_dialect = "chat"

    def __init__(self, form: Form, path: str, what: str, response_format: str, usage: Usage) -> None:
        self._form = form
        self._path = path
        self._what = what
        self._format = response_format
        self._usage = usage

    def upstream_body(self, provider: ProviderEntry, model: str, stream: bool) -> bytes:
        return self._form.replace("model", model.encode())

    def request(self, adapter: ProviderAdapter, provider: ProviderEntry, model: str, stream: bool) -> UpstreamRequest:
        openai = openai_audio_adapter(adapter, self._what)
        req = openai.endpoint(provider, self._path, self.upstream_body(provider, model, stream), model)
        headers = {**req.headers, "content-type": self._form.content_type, "accept": "*/*"}
        return dataclasses.replace(req, headers=headers)

    def reply(self, body: bytes, served: Served) -> tuple[bytes, Usage]:
        """JSON formats are checked (an error object with a 200 is not an answer); text passes as is."""
        if self._format in JSON_FORMATS:
            return body, transcription_usage(decode_reply(body), self._usage)
        return body, self._usage

    def stream(self, served: Served) -> StreamRelay:
        # `stream=true` (gpt-4o-transcribe): the upstream's transcript events pass through untouched.
        return BinaryRelay(self._usage)
