"""A LiteLLM proxy config becomes a valid Polyroute config: accounts, routes, fallbacks, prices, notes."""

from __future__ import annotations

import pytest
import yaml

from app.catalog.config_file import parse_config
from app.catalog.litellm_import import import_litellm

LITELLM = """
model_list:
  - model_name: gpt-4o
    litellm_params:
      model: azure/gpt-4o-eu
      api_base: https://eu.openai.azure.com/
      api_key: os.environ/AZURE_API_KEY_EU
      api_version: "2024-10-21"
      rpm: 6
  - model_name: gpt-4o
    litellm_params: {model: azure/gpt-4o-ca, api_base: https://eu.openai.azure.com/,
                     api_key: os.environ/AZURE_API_KEY_EU, api_version: "2024-10-21", weight: 2}
  - model_name: gpt-4o
    litellm_params: {model: openai/gpt-4o, api_key: os.environ/OPENAI_API_KEY, timeout: 30, stream_timeout: 5}
    model_info: {input_cost_per_token: 0.0000025, output_cost_per_token: 0.00001, max_input_tokens: 128000}
  - model_name: claude
    litellm_params: {model: bedrock/anthropic.claude-3-5-sonnet-20240620-v1:0, aws_region_name: eu-west-1,
                     aws_access_key_id: os.environ/AWS_ACCESS_KEY_ID, aws_secret_access_key: os.environ/AWS_SECRET}
  - model_name: llama
    litellm_params: {model: bedrock/converse/meta.llama3-1-70b-instruct-v1:0, api_key: os.environ/BEDROCK_KEY}
  - model_name: gemini-pro
    litellm_params: {model: vertex_ai/gemini-2.5-pro, vertex_project: my-proj, vertex_location: global,
                     vertex_credentials: /etc/key.json}
  - model_name: sonnet-vertex
    litellm_params: {model: vertex_ai/claude-sonnet-4-5@20250929, vertex_project: p, vertex_location: us-east5,
                     vertex_credentials: os.environ/VERTEX_JSON}
  - model_name: "anthropic/*"
    litellm_params: {model: "anthropic/*", api_key: os.environ/ANTHROPIC_API_KEY}
  - model_name: local
    litellm_params: {model: ollama_chat/llama3.1, api_base: "http://localhost:11434"}
  - model_name: fast
    litellm_params: {model: groq/llama-3.1-8b-instant, api_key: os.environ/GROQ_API_KEY}
  - model_name: weird
    litellm_params: {model: sagemaker/foo}
  - model_name: "bad name!"
    litellm_params: {model: openai/gpt-4o-mini}
litellm_settings:
  num_retries: 2
  fallbacks: [{"gpt-4o": ["claude", "missing"]}]
  success_callback: ["langfuse"]
router_settings: {routing_strategy: cost-based-routing}
general_settings: {master_key: sk-1234}
"""
ENV = {
    name: "value"
    for name in ("AZURE_API_KEY_EU", "OPENAI_API_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET", "BEDROCK_KEY",
                 "ANTHROPIC_API_KEY", "GROQ_API_KEY", "VERTEX_SERVICE_ACCOUNT_JSON", "VERTEX_JSON")
}  # fmt: skip


def _imported() -> tuple[dict, list[str]]:  # type: ignore[type-arg]
    result = import_litellm(yaml.safe_load(LITELLM))
    return result.config, result.notes


def test_accounts_become_providers_and_deployments_their_models() -> None:
    config, _ = _imported()
    providers = {p["name"]: p for p in config["providers"]}
    azure = providers["azure"]
    assert (azure["kind"], azure["api_version"], azure["api_key"]) == ("azure", "2024-10-21", "${AZURE_API_KEY_EU}")
    assert [m["id"] for m in azure["models"]] == ["gpt-4o-eu", "gpt-4o-ca"]  # one account, two deployments
    openai = providers["openai"]
    assert (openai["timeout_s"], openai["first_token_timeout_s"]) == (30.0, 5.0)
    assert openai["models"] == [
        {"id": "gpt-4o", "input_cost_per_mtok": 2.5, "output_cost_per_mtok": 10.0, "context_window": 128000}
    ]
    bedrock = providers["bedrock"]
    assert (bedrock["kind"], bedrock["region"]) == ("bedrock", "eu-west-1")
    assert bedrock["base_url"] == "https://bedrock-runtime.eu-west-1.amazonaws.com"
    assert bedrock["api_key"] == "${AWS_ACCESS_KEY_ID}:${AWS_SECRET}"
    converse = providers["bedrock-converse"]
    assert converse["models"] == [{"id": "meta.llama3-1-70b-instruct-v1:0"}] and converse["api_key"] == "${BEDROCK_KEY}"
    assert providers["vertex"]["base_url"] == "https://aiplatform.googleapis.com/v1/projects/my-proj/locations/global"
    assert providers["vertex"]["api_key"] == "${VERTEX_SERVICE_ACCOUNT_JSON}"
    assert providers["vertex-anthropic"]["api_key"] == "${VERTEX_JSON}"
    assert providers["vertex-anthropic"]["models"] == [{"id": "claude-sonnet-4-5@20250929"}]
    assert providers["anthropic"]["models"] == [{"id": "*"}]  # anthropic/<model> keeps working
    ollama = next(p for p in config["providers"] if p.get("quirks") == "ollama")
    assert ollama["base_url"] == "http://localhost:11434/v1"
    groq = next(p for p in config["providers"] if p.get("quirks") == "groq")
    assert groq["base_url"] == "https://api.groq.com/openai/v1"


def test_model_groups_become_routes_with_fallbacks_in_tiers() -> None:
    config, _ = _imported()
    routes = {r["name"]: r for r in config["routes"]}
    gpt = routes["gpt-4o"]
    assert (gpt["strategy"], gpt["params"]) == ("tiered", {"retries": 2, "inner": "cost-based"})
    assert [(t["provider"], t["model"], t.get("priority", 0)) for t in gpt["targets"]] == [
        ("azure", "gpt-4o-eu", 0),
        ("azure", "gpt-4o-ca", 0),
        ("openai", "gpt-4o", 0),
        ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0", 1),
    ]
    assert gpt["targets"][1]["weight"] == 2.0
    assert routes["claude"]["strategy"] == "cost-based"
    assert "anthropic/*" not in routes and "weird" not in routes and "bad name!" not in routes


def test_a_deployments_rpm_and_tpm_become_its_models_quota() -> None:
    config, notes = _imported()
    azure = next(p for p in config["providers"] if p["name"] == "azure")
    quota = {m["id"]: (m.get("rpm"), m.get("tpm")) for m in azure["models"]}
    assert quota["gpt-4o-eu"] == (6, None) and quota["gpt-4o-ca"] == (None, None)
    assert not [n for n in notes if "rpm" in n]


def test_what_did_not_carry_over_is_named() -> None:
    _, notes = _imported()
    text = "\n".join(notes)
    for expected in ("'sagemaker'", "master_key", "success_callback", "'missing'",
                     "VERTEX_SERVICE_ACCOUNT_JSON", "'bad name!'"):  # fmt: skip
        assert expected in text, expected


def test_the_result_is_a_valid_config_file() -> None:
    config, _ = _imported()
    parsed = parse_config(yaml.safe_dump(config), ENV)
    assert len(parsed.providers) == len(config["providers"]) and len(parsed.routes) == len(config["routes"])


@pytest.mark.parametrize("doc", [None, [], {"model_list": "x"}, {"general_settings": {}}])
def test_not_a_litellm_config(doc: object) -> None:
    with pytest.raises(ValueError, match="model_list"):
        import_litellm(doc)
