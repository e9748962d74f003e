"""The caller's `anthropic-beta` header reaches Anthropic upstreams (Claude Code and the SDK's beta
client turn features on with it), on every path that calls Anthropic, and no other upstream."""

from __future__ import annotations

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

BETAS = ["interleaved-thinking-2025-05-14", "context-1m-2025-08-07"]
HI = [{"role": "user", "content": "hi"}]


def test_betas_reach_anthropic_whole_streamed_and_counted(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    client = gateway.anthropic()
    client.beta.messages.create(model="claude/claude-fake", max_tokens=20, messages=HI, betas=BETAS)  # type: ignore[arg-type]
    with client.beta.messages.stream(model="claude/claude-fake", max_tokens=20, messages=HI, betas=BETAS) as stream:  # type: ignore[arg-type]
        assert stream.get_final_message().content
    client.beta.messages.count_tokens(model="claude/claude-fake", messages=HI, betas=BETAS)  # type: ignore[arg-type]
    sent = fake_anthropic.requests_for("/v1/messages") + fake_anthropic.requests_for("/v1/messages/count_tokens")
    assert len(sent) == 3
    # (the SDK's count_tokens adds its own token-counting beta after ours)
    assert all(str(r.headers.get("anthropic-beta")).startswith(",".join(BETAS)) for r in sent)
    # an OpenAI-SDK caller on the same upstream sends none, and none is made up
    gateway.openai().chat.completions.create(model="claude/claude-fake", messages=HI)  # type: ignore[arg-type]
    assert "anthropic-beta" not in fake_anthropic.requests_for("/v1/messages")[-1].headers


def test_betas_are_not_sent_to_other_upstreams(gateway: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    gateway.anthropic().beta.messages.create(model="fakeai/gpt-fake", max_tokens=20, messages=HI, betas=BETAS)  # type: ignore[arg-type]
    assert "anthropic-beta" not in fake_openai.requests_for("/chat/completions")[-1].headers
