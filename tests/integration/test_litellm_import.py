"""`polyroute config import-litellm`: a LiteLLM proxy config, imported, serves the same model names through a
real gateway (fakes behind it), fallbacks included."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

ENV = {"OPENAI_KEY": "sk-upstream-primary-secret", "ANTHROPIC_KEY": "sk-ant-upstream-secret"}


def _litellm(openai: FakeOpenAI, anthropic: FakeAnthropic) -> str:
    return f"""
model_list:
  - model_name: gpt-4o
    litellm_params: {{model: openai/gpt-fake, api_base: "{openai.base_url}/v1", api_key: os.environ/OPENAI_KEY}}
  - model_name: flaky
    litellm_params: {{model: openai/fake-500, api_base: "{openai.base_url}/v1", api_key: os.environ/OPENAI_KEY}}
  - model_name: claude
    litellm_params:
      {{model: anthropic/claude-fake, api_base: "{anthropic.base_url}", api_key: os.environ/ANTHROPIC_KEY}}
    model_info: {{input_cost_per_token: 0.000003, output_cost_per_token: 0.000015}}
  - model_name: "anthropic/*"
    litellm_params: {{model: "anthropic/*", api_base: "{anthropic.base_url}", api_key: os.environ/ANTHROPIC_KEY}}
litellm_settings:
  num_retries: 0
  fallbacks: [{{"flaky": ["claude"]}}]
general_settings: {{master_key: sk-1234}}
"""


def _import(source: Path, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "app", "config", "import-litellm", str(source), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, env={"PATH": "", **ENV}, check=False)


@pytest.fixture(scope="module")
def gw(
    tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("litellm")
    source = tmp / "litellm.yaml"
    source.write_text(_litellm(fake_openai, fake_anthropic))
    done = _import(source)
    assert done.returncode == 0, done.stderr
    assert "note: general_settings.master_key: set POLYROUTE_ADMIN_KEY instead" in done.stderr
    config = yaml.safe_load(done.stdout)
    config["api_keys"] = [{"name": "app", "key": API_KEY}]
    gateway = start_gateway(tmp / "gw", config, env=ENV)
    yield gateway
    gateway.stop()


def test_the_model_names_callers_used_keep_working(gw: GatewayProcess) -> None:
    client = gw.openai()
    answer = client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "hi"}])
    assert answer.choices[0].message.content and answer.model == "openai-compatible/gpt-fake"
    message = gw.anthropic().messages.create(
        model="claude", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert message.content[0].text
    wildcard = gw.anthropic().messages.create(
        model="anthropic/claude-fake", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    )
    assert wildcard.model == "anthropic/claude-fake"


def test_fallbacks_carry_over(gw: GatewayProcess) -> None:
    raw = gw.openai().chat.completions.with_raw_response.create(
        model="flaky", messages=[{"role": "user", "content": "hi"}]
    )
    assert raw.headers["x-polyroute-provider"] == "anthropic" and raw.parse().choices[0].message.content
    row = gw.logged(raw.headers["x-request-id"])
    assert [a["status"] for a in row["attempts"]] == [500, 200]
    assert row["cost_usd"] > 0  # priced from model_info


def test_bad_input_is_refused_with_a_reason(tmp_path: Path) -> None:
    missing = _import(tmp_path / "nope.yaml")
    assert missing.returncode == 2 and "nope.yaml" in missing.stderr
    (tmp_path / "bad.yaml").write_text("model_list: [\n")
    assert _import(tmp_path / "bad.yaml").returncode == 2
    (tmp_path / "other.yaml").write_text("general_settings: {}\n")
    other = _import(tmp_path / "other.yaml")
    assert other.returncode == 2 and "needs a model_list" in other.stderr
    out = tmp_path / "out.yaml"
    (tmp_path / "ok.yaml").write_text("model_list: [{model_name: m, litellm_params: {model: openai/gpt-4o}}]\n")
    written = _import(tmp_path / "ok.yaml", "-o", str(out))
    assert written.returncode == 0 and written.stdout == "" and "routes:" in out.read_text()
