"""A gateway in front of the audio fakes: OpenAI, an OpenAI-compatible vendor and an Anthropic account."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai_audio_batches import FakeOpenAIAudioBatches
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess

MAX_BODY = 512 * 1024


@pytest.fixture(scope="module")
def audio_fakes() -> Iterator[tuple[FakeOpenAIAudioBatches, FakeOpenAIAudioBatches]]:
    primary, compat = FakeOpenAIAudioBatches().start(), FakeOpenAIAudioBatches().start()
    yield primary, compat
    primary.stop()
    compat.stop()


@pytest.fixture(scope="module")
def audio_gateway(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    audio_fakes: tuple[FakeOpenAIAudioBatches, FakeOpenAIAudioBatches],
) -> Iterator[GatewayProcess]:
    primary, compat = audio_fakes
    config = {
        "providers": [
            {
                "name": "oai",
                "kind": "openai",
                "base_url": primary.base_url + "/v1",
                "api_key": "sk-upstream-audio",
                "timeout_s": 5,
                "models": [
                    {"id": "tts-fake", "cost_per_1k_chars": 15.0},
                    {"id": "tts-fake-slow", "cost_per_1k_chars": 15.0},
                    {"id": "tts-fake-cut"},
                    {"id": "whisper-fake", "cost_per_minute": 0.6},
                    {"id": "transcribe-tokens", "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10.0},
                    {"id": "gpt-image-fake", "input_cost_per_mtok": 5.0, "output_cost_per_mtok": 40.0},
                    {"id": "dall-e-fake", "cost_per_image": 0.02},
                    {"id": "fake-500"},
                ],
            },
            {
                "name": "compat",
                "kind": "openai-compatible",
                "base_url": compat.base_url + "/v1",
                "api_key": "sk-upstream-compat",
                "timeout_s": 5,
                "models": [{"id": "tts-fake"}, {"id": "whisper-fake", "cost_per_request": 0.01}],
            },
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": f"http://127.0.0.1:{free_port()}",
                "api_key": "sk-ant-unused",
                "models": [{"id": "claude-fake"}],
            },
        ],
        "routes": [
            {
                "name": "route/edit",
                "targets": [
                    {"provider": "oai", "model": "fake-500", "priority": 0},
                    {"provider": "oai", "model": "dall-e-fake", "priority": 1},
                ],
                "params": {"retries": 0},
            },
            {
                "name": "route/tts",
                "targets": [
                    {"provider": "oai", "model": "fake-500", "priority": 0},
                    {"provider": "compat", "model": "tts-fake", "priority": 1},
                ],
                "params": {"retries": 0},
            },
        ],
        "plans": [{"name": "internal", "models": ["*"]}, {"name": "tts-only", "models": ["oai/tts-*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "tts-only", "key": "sk-poly-ttsonly-0123456789abcdefgh", "plan": "tts-only"},
        ],
    }
    env = {"POLYROUTE_MAX_BODY_BYTES": str(MAX_BODY), "POLYROUTE_PROBES_ENABLED": "false"}
    with gateway_on(backend, tmp_path_factory.mktemp("audio"), config, env=env) as gw:
        yield gw


def wav_bytes(seconds: float = 1.0, rate: int = 16000) -> bytes:
    """A real mono 16-bit PCM WAV file: a 440 Hz tone."""
    import io
    import math
    import struct
    import wave

    frames = b"".join(
        struct.pack("<h", int(12000 * math.sin(2 * math.pi * 440 * i / rate))) for i in range(int(seconds * rate))
    )
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(rate)
        wav.writeframes(frames)
    return out.getvalue()
