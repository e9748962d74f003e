"""Image edits and variations through the openai SDK: the upload forwarded with only `model` replaced."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.openai_audio_batches import FakeOpenAIAudioBatches
from tests.gateway_process import GatewayProcess

Fakes = tuple[FakeOpenAIAudioBatches, FakeOpenAIAudioBatches]
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def test_an_image_edit_reaches_the_provider_as_uploaded(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    primary, _ = audio_fakes
    client = audio_gateway.openai()
    raw = client.images.with_raw_response.edit(
        model="oai/gpt-image-fake",
        image=[("cat.png", PNG, "image/png"), ("hat.png", PNG + b"\x00", "image/png")],
        mask=("mask.png", PNG, "image/png"),
        prompt="put the hat on the cat",
        n=2,
        size="1024x1024",
    )
    result = raw.parse()
    assert len(result.data) == 2 and base64.b64decode(result.data[0].b64_json or "") == PNG
    sent = primary.requests_for("/v1/images/edits")[-1]
    assert b'name="model"\r\n\r\ngpt-image-fake\r\n' in sent.body
    assert sent.body.count(PNG) == 3 and b"put the hat on the cat" in sent.body and b'name="mask"' in sent.body
    assert raw.headers["x-polyroute-model"] == "oai/gpt-image-fake"
    row = audio_gateway.logged(raw.headers["x-request-id"])
    assert (row["endpoint"], row["prompt_tokens"], row["completion_tokens"]) == ("images.edits", 30, 200)
    assert row["cost_usd"] == pytest.approx((30 * 5.0 + 200 * 40.0) / 1e6)


def test_a_variation_falls_back_and_is_priced_per_image(audio_gateway: GatewayProcess, audio_fakes: Fakes) -> None:
    primary, _ = audio_fakes
    with pytest.warns(
        DeprecationWarning, match="deprecated"
    ):  # the SDK marks variations (dall-e-2's) deprecated; still served
        raw = audio_gateway.openai().images.with_raw_response.create_variation(
            model="route/edit", image=("cat.png", PNG, "image/png"), n=3
        )
    assert len(raw.parse().data) == 3
    assert raw.headers["x-polyroute-model"] == "oai/dall-e-fake" and raw.headers["x-polyroute-attempts"] == "2"
    sent = [r.body for r in primary.requests_for("/v1/images/variations")[-2:]]
    assert b'name="model"\r\n\r\nfake-500\r\n' in sent[0] and b'name="model"\r\n\r\ndall-e-fake\r\n' in sent[1]
    row = audio_gateway.logged(raw.headers["x-request-id"])
    assert row["endpoint"] == "images.variations" and row["cost_usd"] == pytest.approx(0.06)


def _post(gw: GatewayProcess, path: str, **kwargs: Any) -> httpx.Response:
    with gw.http(headers={"Authorization": f"Bearer {gw.api_key}"}) as http:
        return http.post("/v1" + path, **kwargs)


BAD: list[tuple[str, dict[str, Any], str]] = [
    ("/images/edits", {"data": {"prompt": "x"}, "files": {"image": ("a.png", PNG)}}, "'model'"),
    (
        "/images/edits",
        {"data": {"model": "oai/gpt-image-fake", "prompt": "x"}, "files": {"photo": ("a.png", PNG)}},
        "'image'",
    ),
    ("/images/edits", {"data": {"model": "oai/gpt-image-fake"}, "files": {"image": ("a.png", PNG)}}, "'prompt'"),
    (
        "/images/edits",
        {"data": {"model": "oai/gpt-image-fake", "prompt": "x"}, "files": {"image": ("a.png", b"")}},
        "empty",
    ),
    (
        "/images/edits",
        {"data": {"model": "oai/gpt-image-fake", "prompt": "x", "stream": "true"}, "files": {"image": ("a.png", PNG)}},
        "Streaming",
    ),
    ("/images/variations", {"json": {"model": "oai/dall-e-fake"}}, "multipart/form-data"),
    (
        "/images/variations",
        {"data": {"model": "claude/claude-fake"}, "files": {"image": ("a.png", PNG)}},
        "not supported by anthropic",
    ),
    ("/images/variations", {"data": {"model": "nowhere/none"}, "files": {"image": ("a.png", PNG)}}, "nowhere/none"),
]


@pytest.mark.parametrize(("path", "request_kwargs", "says"), BAD, ids=[b[2] for b in BAD])
def test_bad_uploads_are_a_400_naming_the_problem(
    audio_gateway: GatewayProcess, path: str, request_kwargs: dict[str, Any], says: str
) -> None:
    resp = _post(audio_gateway, path, **request_kwargs)
    assert resp.status_code == 400, resp.text
    assert resp.headers["content-type"] == "application/problem+json" and resp.headers["x-error-code"] in (
        "INVALID_REQUEST",
        "INVALID_MODEL",
    )
    assert says in resp.json()["error"]["message"]


def test_a_malformed_or_oversized_upload(audio_gateway: GatewayProcess) -> None:
    broken = _post(
        audio_gateway,
        "/images/edits",
        content=b'--xyz\r\nContent-Disposition: form-data; name="model"\r\n\r\noai',
        headers={"content-type": "multipart/form-data; boundary=xyz"},
    )
    assert broken.status_code == 400 and broken.headers["x-error-code"] == "INVALID_REQUEST"
    huge = _post(
        audio_gateway,
        "/images/edits",
        data={"model": "oai/gpt-image-fake", "prompt": "x"},
        files={"image": ("a.png", b"x" * (600 * 1024))},
    )
    assert huge.status_code == 413 and huge.headers["x-error-code"] == "PAYLOAD_TOO_LARGE"
    with pytest.raises(openai.AuthenticationError):
        audio_gateway.openai("sk-poly-not-a-key-0000000000").images.edit(
            model="oai/gpt-image-fake", image=("a.png", PNG), prompt="x"
        )
