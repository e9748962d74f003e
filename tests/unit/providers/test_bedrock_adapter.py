"""Bedrock's request shape: the body Bedrock takes, the model in the path, the region, the probe's host."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from app.gateway.snapshot import ProviderEntry
from app.providers.bedrock import BedrockAdapter, BedrockConverseAdapter, bedrock_body
from tests.entries import provider_entry

BEDROCK = BedrockAdapter()
NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


def _provider(
    api_key: str | None, base_url: str = "https://bedrock-runtime.eu-central-1.amazonaws.com", region: str | None = None
) -> ProviderEntry:
    return provider_entry(kind="bedrock", base_url=base_url, api_key=api_key, region=region)


def test_body_drops_model_and_stream_and_names_bedrocks_version() -> None:
    body = json.loads(bedrock_body(b'{"model":"m","stream":true,"max_tokens":5,"messages":[]}'))
    assert body == {"max_tokens": 5, "messages": [], "anthropic_version": "bedrock-2023-05-31"}
    merged = json.loads(bedrock_body(b'{"anthropic_beta":["a"]}', "b, a,,c"))
    assert merged["anthropic_beta"] == ["a", "b", "c"]


def test_model_id_is_one_encoded_path_segment() -> None:
    req = BEDROCK.generate(
        _provider("ABSKkey"), "arn:aws:bedrock:us-east-1:123:inference-profile/us.x-v1:0", b"{}", True
    )
    assert req.url == (
        "https://bedrock-runtime.eu-central-1.amazonaws.com/model/"
        "arn%3Aaws%3Abedrock%3Aus-east-1%3A123%3Ainference-profile%2Fus.x-v1%3A0/invoke-with-response-stream"
    )
    assert req.headers["accept"] == "application/vnd.amazon.eventstream"
    assert req.headers["authorization"] == "Bearer ABSKkey"


def test_region_from_setting_then_host_then_default() -> None:
    assert BEDROCK.region(_provider(None)) == "eu-central-1"
    assert BEDROCK.region(_provider(None, region="us-west-2")) == "us-west-2"
    assert BEDROCK.region(_provider(None, base_url="http://127.0.0.1:9000")) == "us-east-1"


def test_sigv4_credentials_sign_for_the_region_and_a_session_token_is_sent() -> None:
    req = BEDROCK.signed(_provider("AKIDEXAMPLE:secret:tok"), BEDROCK.generate(_provider(None), "m", b"{}", False), NOW)
    assert req.headers["authorization"].startswith(
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261123/eu-central-1/bedrock/aws4_request"
    )
    assert req.headers["x-amz-security-token"] == "tok" and req.headers["x-amz-date"] == "20261123T120000Z"


def test_betas_are_signed_again_with_the_body() -> None:
    provider = _provider("AKIDEXAMPLE:secret")
    plain = BEDROCK.generate(provider, "m", b'{"max_tokens":1}', False)
    betas = BEDROCK.with_betas(provider, plain, "context-1m-2025-08-07")
    assert json.loads(betas.body or b"")["anthropic_beta"] == ["context-1m-2025-08-07"]
    assert betas.headers["authorization"] != plain.headers["authorization"]  # the payload hash changed


def test_probe_goes_to_the_control_plane() -> None:
    req = BEDROCK.probe(_provider("ABSKkey"))
    assert (req.method, req.url) == (
        "GET",
        "https://bedrock.eu-central-1.amazonaws.com/foundation-models?byProvider=anthropic",
    )


def test_context_errors_are_recognised() -> None:
    parsed = BEDROCK.parse_error(400, b'{"message":"Input is too long for requested model."}')
    assert parsed.context_length and parsed.message == "Input is too long for requested model."
    assert not BEDROCK.parse_error(400, b'{"message":"messages: field required"}').context_length


def test_converse_paths_and_probe() -> None:
    converse = BedrockConverseAdapter()
    provider = _provider("ABSKkey")
    assert converse.generate(provider, "meta.llama3-v1:0", b"{}", False).url.endswith(
        "/model/meta.llama3-v1%3A0/converse"
    )
    streamed = converse.generate(provider, "m", b'{"messages":[]}', True)
    assert streamed.url.endswith("/model/m/converse-stream") and streamed.body == b'{"messages":[]}'  # sent as built
    assert converse.probe(provider).url == "https://bedrock.eu-central-1.amazonaws.com/foundation-models"
