"""Embeddings and image generation through the router, with the openai SDK."""

from __future__ import annotations

import httpx
import openai
import pytest

from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.cache.helpers import logged

pytestmark = pytest.mark.usefixtures("fakes_reset")


def test_embeddings_passthrough_float_and_base64(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = gateway.openai()
    result = client.embeddings.create(model="fakeai/text-embedding-fake", input=["hello", "world!"])
    assert result.model == "fakeai/text-embedding-fake"
    assert [d.index for d in result.data] == [0, 1]
    assert len(result.data[0].embedding) == 8 and all(isinstance(v, float) for v in result.data[0].embedding)
    assert result.usage.prompt_tokens > 0
    sent = fake_openai.requests_for("/v1/embeddings")[-1].json()
    assert sent["model"] == "text-embedding-fake"
    floats = client.embeddings.create(model="fakeai/text-embedding-fake", input="hello", encoding_format="float")
    assert floats.data[0].embedding == pytest.approx(result.data[0].embedding, rel=1e-6)  # base64 is float32


def test_embeddings_on_gemini_are_translated(gateway: GatewayProcess, fake_gemini: FakeGemini) -> None:
    result = gateway.openai().embeddings.create(model="gem/gemini-fake", input=["a", "bb", "ccc"])
    assert result.model == "gem/gemini-fake"
    assert len(result.data) == 3 and all(len(d.embedding) > 0 for d in result.data)
    assert fake_gemini.requests_for(":batchEmbedContents")


def test_embeddings_on_anthropic_is_a_clear_400(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        gateway.openai().embeddings.create(model="claude/claude-fake", input="x")
    assert "Embeddings are not supported by anthropic" in err.value.message


def test_images_generation(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    result = gateway.openai().images.generate(model="fakeai/gpt-image-fake", prompt="a red square", n=2)
    assert len(result.data) == 2 and result.data[0].b64_json
    sent = fake_openai.requests_for("/v1/images/generations")[-1].json()
    assert sent == {"model": "gpt-image-fake", "prompt": "a red square", "n": 2}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({"model": "fakeai/text-embedding-fake"}, "input"),
        ({"model": "fakeai/text-embedding-fake", "input": {"a": 1}}, "input"),
        ({"input": "x"}, "model"),
    ],
)
def test_embeddings_bad_input(gateway: GatewayProcess, body: dict[str, object], needle: str) -> None:
    with httpx.Client(base_url=gateway.base_url) as http:
        resp = http.post("/v1/embeddings", json=body, headers={"Authorization": f"Bearer {gateway.api_key}"})
    assert resp.status_code == 400 and needle in resp.json()["detail"]


def test_embeddings_and_images_are_accounted_with_usage_and_cost(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    raw = client.embeddings.with_raw_response.create(model="fakeai/text-embedding-fake", input=["cost", "me"])
    tokens = raw.parse().usage.prompt_tokens
    row = logged(gateway, raw.headers["x-request-id"])
    assert (row["endpoint"], row["provider"], row["model"], row["status"]) == (
        "embeddings",
        "fakeai",
        "text-embedding-fake",
        200,
    )
    assert row["prompt_tokens"] == tokens and row["completion_tokens"] == 0
    assert row["cost_usd"] == pytest.approx(tokens * 1.0 / 1e6)  # input_cost_per_mtok 1.0
    raw = client.embeddings.with_raw_response.create(model="gem/gemini-fake", input=["a", "bb"])
    row = logged(gateway, raw.headers["x-request-id"])
    assert row["provider"] == "gem" and row["prompt_tokens"] > 0 and row["estimated"]  # Gemini reports no usage
    assert row["cost_usd"] == pytest.approx(row["prompt_tokens"] * 0.1 / 1e6)
    raw = client.images.with_raw_response.generate(model="fakeai/dall-e-fake", prompt="a red square", n=3)
    assert len(raw.parse().data or []) == 3
    row = logged(gateway, raw.headers["x-request-id"])
    assert (row["endpoint"], row["model"], row["status"]) == ("images.generations", "dall-e-fake", 200)
    assert row["cost_usd"] == pytest.approx(3 * 0.04)  # cost_per_image


def test_moderations_go_to_openai_and_are_logged(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = gateway.openai()
    raw = client.moderations.with_raw_response.create(
        model="fakeai/omni-moderation-fake", input=["a plan to attack the castle", "a nice walk"]
    )
    result = raw.parse()
    assert result.model == "fakeai/omni-moderation-fake"
    assert [r.flagged for r in result.results] == [True, False]
    assert result.results[0].categories.violence and result.results[0].category_scores.violence == 0.9
    sent = fake_openai.requests_for("/v1/moderations")[-1].json()
    assert sent["model"] == "omni-moderation-fake" and sent["input"][1] == "a nice walk"
    row = logged(gateway, raw.headers["x-request-id"])
    assert (row["endpoint"], row["provider"], row["status"]) == ("moderations", "fakeai", 200)
    with pytest.raises(openai.BadRequestError) as err:
        client.moderations.create(model="backup/gpt-fake", input="x")
    assert "Moderation is not supported by openai-compatible" in err.value.message
