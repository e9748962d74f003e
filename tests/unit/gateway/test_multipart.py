"""multipart/form-data: fields read, one part replaced with every other byte kept, malformed bodies refused."""

from __future__ import annotations

import warnings

import httpx
import pytest

from app.accounting.cost import cost_usd
from app.accounting.events import Usage
from app.catalog.specs import ModelSpec
from app.errors import InvalidRequestError
from app.gateway.multipart import parse_form

with warnings.catch_warnings():
    # bpe_openai loads its encodings at import through a deprecated importlib API.
    warnings.simplefilter("ignore", DeprecationWarning)
    from app.gateway.audio import transcription_usage, wav_seconds

# A file whose bytes look like multipart framing (but not the boundary) must survive untouched.
TRICKY = b"RIFF\r\n--\r\n\r\nContent-Disposition: x\r\n\x00\xff" * 50


def _form(**data: str | list[str]) -> tuple[bytes, str]:
    request = httpx.Request("POST", "http://x/", data=data, files={"file": ("a.wav", TRICKY, "audio/wav")})
    return request.read(), request.headers["content-type"]


def test_fields_and_replace_keep_every_other_byte() -> None:
    raw, content_type = _form(model="oai/whisper", language="en", **{"timestamp_granularities[]": ["word", "segment"]})
    form = parse_form(raw, content_type)
    assert form.value("model") == "oai/whisper" and form.value("missing") is None
    assert form.fields()["timestamp_granularities[]"] == ["word", "segment"]
    upload = form.part("file")
    assert upload is not None and upload.filename == "a.wav" and upload.content_type == "audio/wav"
    assert form.data(upload) == TRICKY
    rewritten = form.replace("model", b"whisper-1")
    assert rewritten == raw.replace(b"\r\n\r\noai/whisper\r\n", b"\r\n\r\nwhisper-1\r\n", 1)
    again = parse_form(rewritten, form.content_type)
    assert again.value("model") == "whisper-1" and again.data(again.part("file") or upload) == TRICKY
    assert parse_form(raw, None).value("language") == "en"  # the boundary read from the body itself


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"", "multipart/form-data; boundary=b", "Malformed"),
        (b'--b\r\nContent-Disposition: form-data; name="a"\r\n\r\nx', "multipart/form-data; boundary=b", "Malformed"),
        (b"--b\r\nContent-Type: text/plain\r\n\r\nx\r\n--b--\r\n", "multipart/form-data; boundary=b", "Malformed"),
        (b"{}", "application/json", "Expected a multipart/form-data body"),
        (b"--b", "multipart/form-data", "without a boundary"),
        (b"garbage", None, "not multipart"),
    ],
)
def test_malformed_bodies_are_400(body: bytes, content_type: str | None, needle: str) -> None:
    with pytest.raises(InvalidRequestError, match=needle):
        parse_form(body, content_type)


def test_audio_usage_and_cost() -> None:
    import io
    import wave

    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\0\0" * 12000)
    assert wav_seconds(out.getvalue()) == pytest.approx(1.5)
    assert wav_seconds(b"ID3 mp3") is None and wav_seconds(b"RIFF\0\0\0\0WAVEjunk") is None
    fallback = Usage(audio_seconds=1.5, estimated=True)
    assert transcription_usage({"usage": {"type": "duration", "seconds": 9}}, fallback).audio_seconds == 9
    tokens = transcription_usage({"usage": {"type": "tokens", "input_tokens": 5, "output_tokens": 2}}, fallback)
    assert (tokens.prompt_tokens, tokens.completion_tokens, tokens.audio_seconds) == (5, 2, 0.0)
    assert transcription_usage({"duration": 3.5}, fallback).audio_seconds == 3.5
    assert transcription_usage({"text": "x"}, fallback) is fallback
    spec = ModelSpec(id="m", cost_per_1k_chars=0.015, cost_per_minute=0.6, cost_per_request=0.01)
    assert cost_usd(spec, Usage(characters=2000)) == pytest.approx(0.03)
    assert cost_usd(spec, Usage(audio_seconds=30)) == pytest.approx(0.3)
    assert cost_usd(spec, Usage()) == pytest.approx(0.01)  # nothing measured: the flat price
