"""Request hooks through the real server: built-ins and entry-point hooks, in both dialects, whole and streamed."""

from __future__ import annotations

import anthropic
import openai
import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.cache.helpers import frames, logged, post, prompt, seen, stream_raw

pytestmark = pytest.mark.usefixtures("fakes_reset")

LONG = " ".join(f"word{i}" for i in range(60))


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def test_the_deny_list_refuses_a_request_in_the_openai_dialect(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("this is forbidden")
    with pytest.raises(openai.BadRequestError) as err:
        hooked.openai().chat.completions.create(model="route/guarded", messages=user(text))
    assert err.value.code == "CONTENT_BLOCKED"
    assert "blocked content" in err.value.message
    assert err.value.response.headers["x-error-code"] == "CONTENT_BLOCKED"
    assert seen(fake_openai, text) == 0
    with pytest.raises(openai.BadRequestError) as streamed:
        hooked.openai().chat.completions.create(model="route/guarded", messages=user(text), stream=True)
    assert streamed.value.code == "CONTENT_BLOCKED"


def test_the_deny_list_refuses_a_request_in_the_anthropic_dialect(
    hooked: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    text = prompt("FORBIDDEN words")
    with pytest.raises(anthropic.BadRequestError) as err:
        hooked.anthropic().messages.create(model="route/guarded-claude", max_tokens=20, messages=user(text))
    assert err.value.type == "invalid_request_error"
    assert err.value.error_code == "CONTENT_BLOCKED"
    assert "blocked content" in err.value.api_message
    assert seen(fake_anthropic, text, "/messages") == 0


def test_max_prompt_refuses_a_long_prompt_in_both_dialects(hooked: GatewayProcess) -> None:
    with pytest.raises(openai.BadRequestError) as err:
        hooked.openai().chat.completions.create(model="route/guarded", messages=user(LONG))
    assert err.value.code == "CONTEXT_LENGTH_EXCEEDED" and "at most 40" in err.value.message
    with pytest.raises(anthropic.BadRequestError) as aerr:
        hooked.anthropic().messages.create(model="route/guarded-claude", max_tokens=20, messages=user(LONG))
    assert aerr.value.error_code == "CONTEXT_LENGTH_EXCEEDED"
    assert hooked.openai().chat.completions.create(model="route/guarded", messages=user("short")).choices


def test_a_blocked_answer_is_refused_after_the_upstream_answered(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("gpt-fake", {"text": "here is the forbidden answer"})
    text = prompt("ask")
    resp = post(hooked, "/v1/chat/completions", {"model": "route/guarded", "messages": user(text)})
    assert resp.status_code == 400 and resp.json()["code"] == "CONTENT_BLOCKED"
    assert seen(fake_openai, text) == 1
    row = logged(hooked, resp.headers["x-request-id"])
    assert (row["status"], row["error_code"], row["provider"]) == (400, "CONTENT_BLOCKED", "fakeai")
    assert row["completion_tokens"] > 0, "the upstream's answer is accounted though the caller never got it"


def test_a_chunk_with_a_blocked_word_ends_the_stream_with_an_error_event(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("gpt-fake", {"text": "safe text here. forbidden", "chunks": 2, "chunk_delay_ms": 100})
    resp, raw = stream_raw(hooked, "/v1/chat/completions", {"model": "route/guarded", "messages": user(prompt())})
    assert resp.status_code == 200
    sent = frames(raw)
    assert b"safe text her" in b"".join(sent) and b"forbidden" not in b"".join(sent[:-1])
    assert sent[-1].startswith(b'data: {"error"') and b"CONTENT_BLOCKED" in sent[-1]
    assert b"[DONE]" not in raw
    fake_openai.script("gpt-fake", {"text": "safe text here. forbidden", "chunks": 2, "chunk_delay_ms": 100})
    with pytest.raises(openai.APIError, match="blocked content"):
        for _ in hooked.openai().chat.completions.create(model="route/guarded", messages=user(prompt()), stream=True):
            pass


def test_a_word_split_across_chunks_is_caught_at_the_end_before_the_terminator(
    hooked: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    fake_openai.script("gpt-fake", {"text": "so forbidden", "chunks": 12, "chunk_delay_ms": 20})
    _, raw = stream_raw(hooked, "/v1/chat/completions", {"model": "route/guarded", "messages": user(prompt())})
    sent = frames(raw)
    assert len([f for f in sent if b'"content"' in f]) >= 12, "every piece of text went out"
    assert sent[-1].startswith(b'data: {"error"') and b"CONTENT_BLOCKED" in sent[-1]
    assert b"[DONE]" not in raw


def test_a_blocked_anthropic_stream_ends_with_an_error_event(
    hooked: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    fake_anthropic.script("claude-fake", {"text": "so forbidden", "chunks": 12, "chunk_delay_ms": 20})
    body = {"model": "route/guarded-claude", "max_tokens": 50, "messages": user(prompt())}
    _, raw = stream_raw(hooked, "/v1/messages", body)
    assert frames(raw)[-1].startswith(b"event: error") and b"CONTENT_BLOCKED" in frames(raw)[-1]
    assert b"message_stop" not in raw
    fake_anthropic.script("claude-fake", {"text": "so forbidden", "chunks": 12, "chunk_delay_ms": 20})
    with (
        pytest.raises(anthropic.APIStatusError, match="blocked content"),
        hooked.anthropic().messages.stream(**body) as stream,  # type: ignore[arg-type]
    ):
        for _ in stream:
            pass


def test_an_entry_point_hook_refuses_with_its_own_status_and_code(hooked: GatewayProcess) -> None:
    with pytest.raises(openai.PermissionDeniedError) as err:
        hooked.openai().chat.completions.create(model="route/custom", messages=user("please refuse-me"))
    assert err.value.code == "POLICY_REFUSED" and err.value.message.endswith("Our policy refuses this")
    assert err.value.status_code == 403


def test_an_entry_point_hook_rewrites_what_the_upstream_sees(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("card 4111-1111-1111-1111 please")
    raw = hooked.openai().chat.completions.with_raw_response.create(model="route/custom", messages=user(text))
    answer = raw.parse()
    # the request log names the hook that rewrote the request (and what annotated the answer)
    hooks = logged(hooked, raw.headers["x-request-id"])["hooks"]
    assert hooks["rewritten_by"] == ["redact"] and hooks["headers"]["x-hooked"].startswith("chat.completions:")
    redacted = text.replace("4111-1111-1111-1111", "[card]")
    assert answer.choices[0].message.content == f"Hello from gpt-fake. You said: {redacted}"
    sent = fake_openai.requests_for("/chat/completions")[-1].json()
    assert sent["messages"] == user(redacted) and sent["model"] == "gpt-fake"
    chunks = hooked.openai().chat.completions.create(model="route/custom", messages=user(text), stream=True)
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).endswith(redacted)
    assert "4111" not in fake_openai.requests_for("/chat/completions")[-1].body.decode()


def test_a_rewrite_reaches_an_anthropic_upstream_from_the_anthropic_sdk(
    hooked: GatewayProcess, fake_anthropic: FakeAnthropic
) -> None:
    text = prompt("card 4111-1111 here")
    client = hooked.anthropic()
    message = client.messages.create(model="route/custom-claude", max_tokens=50, messages=user(text))
    assert "[card]" in message.content[0].text and "4111" not in message.content[0].text  # type: ignore[union-attr]
    with client.messages.stream(model="route/custom-claude", max_tokens=50, messages=user(text)) as stream:
        assert "[card]" in stream.get_final_text()
    for received in fake_anthropic.requests_for("/messages"):
        assert "4111" not in received.body.decode()


def test_a_global_hook_annotates_every_whole_answer(hooked: GatewayProcess) -> None:
    raw = hooked.openai().chat.completions.with_raw_response.create(model="route/plain", messages=user("hi"))
    text = raw.parse().choices[0].message.content
    assert raw.headers["x-hooked"] == f"chat.completions:{len(text)}"
    resp = post(hooked, "/v1/messages", {"model": "route/plain", "max_tokens": 20, "messages": user("hey")})
    assert resp.status_code == 200 and resp.headers["x-hooked"].startswith("messages:")


def test_hooks_guard_and_rewrite_the_responses_api_too(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = hooked.openai()
    with pytest.raises(openai.BadRequestError) as err:
        client.responses.create(model="route/guarded", input="say something forbidden")
    assert err.value.code == "CONTENT_BLOCKED"
    text = prompt("card 4111-1111 again")
    answer = client.responses.create(model="route/custom", input=text, store=False)
    assert "[card]" in answer.output_text and "4111" not in answer.output_text
    for received in fake_openai.received:
        assert "4111" not in received.body.decode(), received.path


def test_hooks_guard_and_rewrite_legacy_completions_too(hooked: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    client = hooked.openai()
    for stream in (False, True):
        with pytest.raises(openai.BadRequestError) as err:
            client.completions.create(model="route/guarded", prompt="say something forbidden", stream=stream)
        assert err.value.code == "CONTENT_BLOCKED"
    # Several prompts go to the instruct model's own endpoint as they are; hooks read every one.
    with pytest.raises(openai.BadRequestError) as err:
        client.completions.create(model="route/guarded-instruct", prompt=["fine", "but forbidden"])
    assert err.value.code == "CONTENT_BLOCKED"
    both = client.completions.create(model="route/guarded-instruct", prompt=["fine", "also fine"])
    assert [c.text for c in both.choices] == [" continues fine", " continues also fine"]
    with pytest.raises(openai.PermissionDeniedError) as refused:
        client.completions.create(model="route/refuse-instruct", prompt="please refuse-me")
    assert refused.value.code == "POLICY_REFUSED"
    raw = client.completions.with_raw_response.create(model="route/plain", prompt="hi")
    assert raw.headers["x-hooked"] == f"completions:{len(raw.parse().choices[0].text)}"
    # Allowed as it is, the instruct model gets its own endpoint; rewritten, the request is in chat form.
    plain = client.completions.create(model="route/refuse-instruct", prompt="nothing to hide")
    assert plain.choices[0].text == " continues nothing to hide"
    text = prompt("card 4111-1111 in a prompt")
    fake_openai.reset()
    rewritten = client.completions.create(model="route/redact-instruct", prompt=text)
    assert "[card]" in rewritten.choices[0].text and "4111" not in rewritten.choices[0].text
    streamed = client.completions.create(model="route/redact-instruct", prompt=text, stream=True)
    assert "[card]" in "".join(c.choices[0].text for c in streamed if c.choices)
    assert [r.path for r in fake_openai.received] == ["/v1/chat/completions"] * 2
    assert all("4111" not in r.body.decode() for r in fake_openai.received)
