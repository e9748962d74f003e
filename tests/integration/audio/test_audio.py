"""Audio through the router with the openai SDK: speech streamed as it arrives, transcription and translation."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_audio_batches import FakeOpenAIAudioBatches, speech_bytes
from tests.gateway_process import GatewayProcess
from tests.integration.audio.conftest import MAX_BODY, wav_bytes

Fakes = tuple[FakeOpenAIAudioBatches, FakeOpenAIAudioBatches]


def test_speech_streams_before_the_upstream_finished(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    primary, _ = audio_fakes
    client = audio_gateway.openai()
    text = "Hello there, this is a streamed speech test."
    chunks: list[tuple[float, bytes]] = []
    with client.audio.speech.with_streaming_response.create(
        model="oai/tts-fake-slow", voice="alloy", input=text, speed=1.25
    ) as response:
        assert response.headers["content-type"] == "audio/mpeg"
        assert response.headers["x-polyroute-model"] == "oai/tts-fake-slow"
        request_id = response.headers["x-request-id"]
        for chunk in response.iter_bytes():
            chunks.append((time.monotonic(), chunk))
    finished = primary.audio_batches.speech_finished_at[-1]
    assert chunks[0][0] < finished - 0.5, "the first audio bytes waited for the whole answer"
    assert b"".join(c for _, c in chunks) == b"".join(speech_bytes(text, i) for i in range(5))
    sent = primary.requests_for("/v1/audio/speech")[-1].json()
    assert sent == {"model": "tts-fake-slow", "voice": "alloy", "input": text, "speed": 1.25}
    row = audio_gateway.logged(request_id)
    assert row["endpoint"] == "audio.speech" and row["status"] == 200 and row["stream"] is True
    assert row["cost_usd"] == pytest.approx(len(text) / 1000 * 15.0)


def test_speech_whole_with_format_and_fallback(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    _, compat = audio_fakes
    client = audio_gateway.openai()
    raw = client.audio.speech.with_raw_response.create(
        model="route/tts", voice="nova", input="fallback", response_format="wav"
    )
    assert raw.headers["content-type"] == "audio/wav"
    assert raw.headers["x-polyroute-model"] == "compat/tts-fake"
    assert raw.headers["x-polyroute-attempts"] == "2"
    assert raw.content == b"".join(speech_bytes("fallback", i) for i in range(3))
    assert compat.requests_for("/v1/audio/speech")[-1].json()["model"] == "tts-fake"


def test_speech_cut_mid_stream_is_not_a_clean_end(audio_gateway: GatewayProcess) -> None:
    body = {"model": "oai/tts-fake-cut", "voice": "alloy", "input": "cut me"}
    headers = {"Authorization": f"Bearer {audio_gateway.api_key}"}
    received: list[bytes] = []
    ids: list[str] = []

    def read() -> None:
        with httpx.stream("POST", audio_gateway.v1 + "/audio/speech", json=body, headers=headers, timeout=10) as resp:
            assert resp.status_code == 200
            ids.append(resp.headers["x-request-id"])
            received.extend(resp.iter_bytes())

    with pytest.raises(httpx.HTTPError):
        read()
    assert b"".join(received) == speech_bytes("cut me", 0) + speech_bytes("cut me", 1)  # and no error event appended
    # One structured line says why, on the request's id; no traceback (it is the upstream's failure).
    line = _log_line(audio_gateway, "stream aborted", lambda r: r.get("request_id") == ids[0])
    assert line["level"] == "WARNING" and line["error_code"] == "PROVIDER_ERROR" and line["status"] == 502
    assert "oai/tts-fake-cut" in line["message"]
    row = audio_gateway.logged(ids[0])
    assert row["status"] == 502 and row["error_code"] == "PROVIDER_ERROR" and row["stream"] is True
    _assert_no_traceback(audio_gateway)


def test_caller_leaving_a_speech_stream_logs_no_traceback(audio_gateway: GatewayProcess) -> None:
    client = audio_gateway.openai()
    with client.audio.speech.with_streaming_response.create(
        model="oai/tts-fake-slow", voice="alloy", input="leave early"
    ) as response:
        request_id = response.headers["x-request-id"]
        next(response.iter_bytes())  # the first chunk, then the caller closes the connection
    row = audio_gateway.logged(request_id)
    assert row["status"] == 499 and row["stream"] is True
    _assert_no_traceback(audio_gateway)


def _log_line(gw: GatewayProcess, event: str, match: Any, timeout: float = 5.0) -> dict[str, Any]:
    """The first JSON log line with this message prefix that `match` accepts (the log writer batches)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for raw in gw.log().splitlines():
            if raw.startswith("{") and event in raw:
                record = json.loads(raw)
                if record.get("message", "").startswith(event) and match(record):
                    return dict(record)
        time.sleep(0.1)
    raise AssertionError(f"no '{event}' line in the gateway log:\n{gw.log()[-3000:]}")


def _assert_no_traceback(gw: GatewayProcess) -> None:
    time.sleep(0.3)  # the log writer thread flushes in batches
    text = gw.log()
    assert "Traceback" not in text and "raised an exception" not in text, text[-3000:]


def test_transcription_with_a_real_wav(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    primary, _ = audio_fakes
    wav = wav_bytes(1.0)
    client = audio_gateway.openai()
    raw = client.audio.transcriptions.with_raw_response.create(
        model="oai/whisper-fake", file=("tone.wav", wav, "audio/wav"), language="en", prompt="a tone", temperature=0.2
    )
    result = raw.parse()
    assert result.text == f"transcribed tone.wav ({len(wav)} bytes) in en"
    sent = primary.requests_for("/v1/audio/transcriptions")[-1]
    assert b'name="model"\r\n\r\nwhisper-fake\r\n' in sent.body
    assert wav in sent.body and b"a tone" in sent.body and b'name="temperature"' in sent.body
    assert "authorization" not in {k.lower(): v for k, v in sent.headers.items()} or (
        sent.headers.get("Authorization") == "Bearer sk-upstream-audio"
    )
    row = audio_gateway.logged(raw.headers["x-request-id"])
    assert row["endpoint"] == "audio.transcriptions" and row["model"] == "whisper-fake"
    assert row["cost_usd"] == pytest.approx(7 / 60 * 0.6)  # the upstream's reported duration


def test_upload_is_forwarded_byte_for_byte_but_the_model(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    primary, _ = audio_fakes
    wav = wav_bytes(0.25)
    files = {"file": ("x.wav", wav, "audio/wav")}
    data = {"model": "oai/whisper-fake", "response_format": "text", "timestamp_granularities[]": ["word", "segment"]}
    request = httpx.Request("POST", audio_gateway.v1 + "/audio/transcriptions", data=data, files=files)
    body = request.read()
    headers = {"Authorization": f"Bearer {audio_gateway.api_key}", "Content-Type": request.headers["content-type"]}
    resp = httpx.post(audio_gateway.v1 + "/audio/transcriptions", content=body, headers=headers, timeout=10)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain")
    assert resp.text == f"transcribed x.wav ({len(wav)} bytes)\n"
    sent = primary.requests_for("/v1/audio/transcriptions")[-1]
    assert sent.body == body.replace(b"\r\n\r\noai/whisper-fake\r\n", b"\r\n\r\nwhisper-fake\r\n", 1)
    assert sent.headers["Content-Type"] == request.headers["content-type"]
    row = audio_gateway.logged(resp.headers["x-request-id"])
    assert row["cost_usd"] == pytest.approx(0.25 / 60 * 0.6)  # no duration reported: the WAV header's


@pytest.mark.parametrize("fmt", ["text", "srt", "vtt", "verbose_json"])
def test_transcription_formats_and_translation(audio_gateway: GatewayProcess, fmt: str) -> None:
    client = audio_gateway.openai()
    wav = wav_bytes(0.1)
    result: Any = client.audio.transcriptions.create(
        model="oai/whisper-fake",
        file=("a.wav", wav),
        response_format=fmt,  # type: ignore[call-overload]
    )
    if fmt == "verbose_json":
        assert result.duration == 7.5 and result.text.startswith("transcribed a.wav")
    else:
        assert result == f"transcribed a.wav ({len(wav)} bytes)\n"
    with pytest.deprecated_call():  # the SDK marks translations deprecated; the endpoint still works
        translated = client.audio.translations.create(model="compat/whisper-fake", file=("b.wav", wav))
    assert translated.text == f"translated b.wav ({len(wav)} bytes)"


def test_transcription_token_usage_and_stream(audio_gateway: GatewayProcess) -> None:
    client = audio_gateway.openai()
    raw = client.audio.transcriptions.with_raw_response.create(model="oai/transcribe-tokens", file=("a.wav", b"RIFF"))
    row = audio_gateway.logged(raw.headers["x-request-id"])
    assert row["prompt_tokens"] == 50 and row["completion_tokens"] == 10
    assert row["cost_usd"] == pytest.approx((50 * 2.5 + 10 * 10.0) / 1e6)
    events = list(client.audio.transcriptions.create(model="oai/whisper-fake", file=("a.wav", b"RIFF"), stream=True))
    assert [e.type for e in events][-1] == "transcript.text.done"
    assert "".join(e.delta for e in events if e.type == "transcript.text.delta").strip() == events[-1].text


def test_flat_price_when_nothing_is_measured(audio_gateway: GatewayProcess) -> None:
    with pytest.deprecated_call():
        raw = audio_gateway.openai().audio.translations.with_raw_response.create(
            model="compat/whisper-fake", file=("a.mp3", b"ID3 not a wav"), response_format="text"
        )
    assert audio_gateway.logged(raw.headers["x-request-id"])["cost_usd"] == pytest.approx(0.01)


def test_audio_on_other_kinds_and_plans(audio_gateway: GatewayProcess) -> None:
    client = audio_gateway.openai()
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="claude/claude-fake", voice="alloy", input="hi")
    assert "Text-to-speech is not supported by anthropic upstreams" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.transcriptions.create(model="claude/claude-fake", file=("a.wav", b"RIFF"))
    assert "Transcription is not supported by anthropic upstreams" in err.value.message
    with pytest.raises(openai.BadRequestError) as err:
        client.audio.speech.create(model="nope/nothing", voice="alloy", input="hi")
    assert err.value.code == "INVALID_MODEL"
    limited = audio_gateway.openai("sk-poly-ttsonly-0123456789abcdefgh")
    assert limited.audio.speech.create(model="oai/tts-fake", voice="alloy", input="ok").content
    with pytest.raises(openai.PermissionDeniedError):
        limited.audio.transcriptions.create(model="oai/whisper-fake", file=("a.wav", b"RIFF"))


def _post(gw: GatewayProcess, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {gw.api_key}", **kwargs.pop("headers", {})}
    return httpx.post(gw.v1 + path, headers=headers, timeout=10, **kwargs)


def test_bad_uploads(audio_gateway: GatewayProcess) -> None:
    gw = audio_gateway
    form = {"Content-Type": "multipart/form-data; boundary=xyz"}
    cut = b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\noai/wh'
    model = {"model": "oai/whisper-fake"}
    wav = {"file": ("a.wav", b"RIFF")}
    cases = [
        ({"content": cut, "headers": form}, "Malformed multipart"),
        ({"json": model}, "Expected a multipart/form-data body"),
        ({"data": model, "files": {"other": ("a.wav", b"RIFF")}}, "Missing required field 'file'"),
        ({"data": {"x": "1"}, "files": wav}, "Missing required field 'model'"),
        ({"data": {**model, "response_format": "mp3"}, "files": wav}, "response_format"),
        ({"data": model, "files": {"file": ("a.wav", b"")}}, "is empty"),
    ]
    for kwargs, needle in cases:
        resp = _post(gw, "/audio/transcriptions", **kwargs)
        assert resp.status_code == 400, (needle, resp.text)
        assert needle in resp.json()["detail"]
    resp = _post(gw, "/audio/speech", json={"model": "oai/tts-fake", "voice": "alloy"})
    assert resp.status_code == 400 and "input" in resp.json()["detail"]


def test_oversized_upload_is_413_before_it_is_read(audio_gateway: GatewayProcess) -> None:
    big = b"\0" * (MAX_BODY + 1)
    resp = _post(
        audio_gateway, "/audio/transcriptions", data={"model": "oai/whisper-fake"}, files={"file": ("a.wav", big)}
    )
    assert resp.status_code == 413 and resp.json()["code"] == "PAYLOAD_TOO_LARGE"
    with pytest.raises(openai.APIStatusError) as err, pytest.deprecated_call():
        audio_gateway.openai().audio.translations.create(model="oai/whisper-fake", file=("a.wav", big))
    assert err.value.status_code == 413
