"""The legacy Completions API (`client.completions.create`) through the gateway, with the official SDK.

An upstream with a completions endpoint of its own (an OpenAI-compatible server; OpenAI for its
instruct model) gets the request as sent, prompt untouched; every other upstream gets it through
chat (the prompt as the one user message) and the answer comes back as a text completion.
"""

from __future__ import annotations

import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")


def test_an_openai_compatible_upstream_gets_the_request_as_sent(
    gateway: GatewayProcess, fake_backup: FakeOpenAI
) -> None:
    client = gateway.openai()
    raw = client.completions.with_raw_response.create(
        model="backup/gpt-fake", prompt="def add(a, b):", suffix="\n    return c", max_tokens=7, logprobs=1
    )
    done = raw.parse()
    assert raw.headers["x-polyroute-provider"] == "backup"
    assert done.object == "text_completion" and done.id == "cmpl-fake123"
    assert done.model == "backup/gpt-fake"
    assert done.choices[0].text == " fills before \n    return c"
    assert done.choices[0].logprobs is not None and done.choices[0].logprobs.tokens
    assert done.usage is not None and done.usage.total_tokens > 0
    [sent] = fake_backup.requests_for("/v1/completions")
    body = sent.json()
    assert body["model"] == "gpt-fake" and body["prompt"] == "def add(a, b):"
    assert body["suffix"] == "\n    return c" and body["logprobs"] == 1 and body["max_tokens"] == 7
    assert sent.headers["Authorization"] == "Bearer sk-upstream-backup-secret"
    assert not fake_backup.requests_for("/v1/chat/completions")


def test_token_prompts_and_several_prompts_pass_through(gateway: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    client = gateway.openai()
    done = client.completions.create(model="backup/gpt-fake", prompt=[[101, 102], [7]], n=2)
    assert [c.text for c in done.choices] == [" continues tokens 101 102"] * 2 + [" continues tokens 7"] * 2
    assert fake_backup.requests_for("/v1/completions")[-1].json()["prompt"] == [[101, 102], [7]]


def test_a_native_stream_is_relayed_with_the_public_model(gateway: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    client = gateway.openai()
    chunks = list(
        client.completions.create(
            model="backup/gpt-fake", prompt="Once upon a time", stream=True, stream_options={"include_usage": True}
        )
    )
    text = "".join(c.choices[0].text for c in chunks if c.choices)
    assert text == " continues Once upon a time"
    assert {c.model for c in chunks} == {"backup/gpt-fake"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    # Without include_usage the caller gets no usage chunk, though the gateway asks for one to count by.
    quiet = list(client.completions.create(model="backup/gpt-fake", prompt="Once", stream=True))
    assert all(c.choices and c.usage is None for c in quiet)
    assert fake_backup.requests_for("/v1/completions")[-1].json()["stream_options"] == {"include_usage": True}


def test_openai_serves_completions_only_for_its_instruct_models(
    gateway: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    client = gateway.openai()
    native = client.completions.create(model="fakeai/gpt-3.5-turbo-instruct", prompt="Say hi")
    assert native.choices[0].text == " continues Say hi"
    assert fake_openai.requests_for("/v1/completions")[-1].json()["prompt"] == "Say hi"
    chat = client.completions.create(model="fakeai/gpt-fake", prompt="Say hi", max_tokens=20, stop=["\n"])
    assert chat.object == "text_completion" and chat.id == "cmpl-fake123"
    assert chat.model == "fakeai/gpt-fake"
    assert chat.choices[0].text == "Hello from gpt-fake. You said: Say hi"
    assert chat.choices[0].finish_reason == "stop" and chat.choices[0].index == 0
    assert chat.usage is not None and chat.usage.prompt_tokens > 0
    sent = fake_openai.requests_for("/v1/chat/completions")[-1].json()
    assert sent["messages"] == [{"role": "user", "content": "Say hi"}]
    assert sent["max_tokens"] == 20 and sent["stop"] == ["\n"] and "prompt" not in sent
    assert len(fake_openai.requests_for("/v1/completions")) == 1


def test_an_anthropic_model_answers_as_a_text_completion(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    client = gateway.openai()
    done = client.completions.create(model="claude/claude-fake", prompt="Tell me", max_tokens=30, echo=True)
    assert done.model == "claude/claude-fake" and done.object == "text_completion"
    assert done.choices[0].text.startswith("Tell me") and len(done.choices[0].text) > len("Tell me")
    assert done.usage is not None and done.usage.prompt_tokens > 0 and done.usage.completion_tokens > 0
    sent = fake_anthropic.requests_for("/v1/messages")[-1].json()
    assert sent["messages"] == [{"role": "user", "content": "Tell me"}] and sent["max_tokens"] == 30

    chunks = list(
        client.completions.create(
            model="claude/claude-fake",
            prompt="Tell me",
            max_tokens=30,
            echo=True,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    streamed = "".join(c.choices[0].text for c in chunks if c.choices)
    assert streamed == done.choices[0].text
    assert chunks[0].choices[0].text.startswith("Tell me")  # the echo comes first
    assert all(c.object == "text_completion" and c.model == "claude/claude-fake" for c in chunks)
    assert len({c.id for c in chunks}) == 1 and chunks[0].id.startswith("cmpl-")
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0


def test_gemini_and_the_demo_provider_answer_too(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    gem = client.completions.create(model="gem/gemini-fake", prompt="Hello there")
    assert gem.model == "gem/gemini-fake" and "Hello there" in gem.choices[0].text
    demo = client.completions.create(model="demo/echo", prompt="one two")
    assert demo.choices[0].text == "Echo: one two"
    chunks = client.completions.create(model="demo/echo", prompt="a b", stream=True)
    streamed = "".join(c.choices[0].text for c in chunks)
    assert streamed == "Echo: a b"


@pytest.mark.parametrize(
    ("extra", "param"),
    [
        ({"suffix": "tail"}, "suffix"),
        ({"logprobs": 2}, "logprobs"),
        ({"best_of": 3}, "best_of"),
        ({"prompt": [[1, 2, 3]]}, "prompt"),
        ({"prompt": ["one", "two"]}, "prompt"),
    ],
)
def test_what_chat_cannot_express_is_refused_by_name(
    gateway: GatewayProcess, fake_anthropic: FakeAnthropic, extra: dict[str, object], param: str
) -> None:
    args: dict[str, object] = {"model": "claude/claude-fake", "prompt": "x", "max_tokens": 5, **extra}
    with pytest.raises(openai.BadRequestError) as err:
        gateway.openai().completions.create(**args)  # type: ignore[call-overload]
    assert err.value.code == "INVALID_REQUEST" and f"'{param}'" in err.value.message
    assert err.value.response.headers["x-error-code"] == "INVALID_REQUEST"
    assert not fake_anthropic.requests_for("/v1/messages")


def test_an_upstream_error_comes_back_as_an_sdk_error(gateway: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        gateway.openai().completions.create(model="fakeai/fake-400", prompt="x")
    assert "fake error 400" in err.value.message


def test_completions_are_recorded_in_the_request_log(gateway: GatewayProcess) -> None:
    client = gateway.openai()
    done = client.completions.with_raw_response.create(model="backup/gpt-fake", prompt="logged prompt")
    request_id = done.headers["x-request-id"]
    row = gateway.logged(request_id)
    assert (row["endpoint"], row["provider"], row["model"], row["status"]) == ("completions", "backup", "gpt-fake", 200)
    usage = done.parse().usage
    assert usage is not None and (row["prompt_tokens"], row["completion_tokens"]) == (
        usage.prompt_tokens,
        usage.completion_tokens,
    )
    # backup/gpt-fake costs 0.5 in and 1.0 out per million tokens
    assert row["cost_usd"] == pytest.approx((usage.prompt_tokens * 0.5 + usage.completion_tokens * 1.0) / 1e6)
