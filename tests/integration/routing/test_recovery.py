"""Mid-stream recovery and hedging across real fake upstreams."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

TEXT = "The quick brown fox jumps over the lazy dog, then naps in the warm afternoon sun."


def _fresh(name: str, fake: FakeOpenAI, model: str, kind: str = "openai", **model_extra: Any) -> dict[str, Any]:
    """A provider config of one model on `fake`, under a name (and so breaker) of its own."""
    return {
        "name": name,
        "kind": kind,
        "base_url": fake.base_url + "/v1",
        "api_key": "sk-p",
        "timeout_s": 5,
        "probe_interval_s": 0,
        "models": [{"id": model, **model_extra}],
    }


@pytest.fixture(scope="module")
def recovering(
    backend: str,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
) -> Iterator[GatewayProcess]:
    config = {
        "providers": [
            {
                "name": "primary",
                "kind": "openai",
                "base_url": fake_openai.base_url + "/v1",
                "api_key": "sk-p",
                "timeout_s": 5,
                "stall_timeout_s": 1,
                "probe_interval_s": 0,
                "models": [{"id": m} for m in ("fake-cut", "fake-stall-mid", "fake-slow-1500", "gpt-fake")],
            },
            # separate names, separate breakers: each error-path test sees a fresh primary
            *(_fresh(name, fake_openai, "fake-cut") for name in ("primary2", "primary3", "primary4")),
            # claims prefill support but answers every request with a 400: it refuses the prefill
            _fresh("refuser", fake_backup, "fake-400", kind="openai-compatible", prefill=True),
            _fresh("primary5", fake_openai, "gpt-fake"),
            _fresh("compat-cut", fake_openai, "fake-cut", kind="openai-compatible"),
            {
                "name": "backup",
                "kind": "openai-compatible",
                "base_url": fake_backup.base_url + "/v1",
                "api_key": "sk-b",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": "gpt-fake"}],
            },
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": fake_anthropic.base_url,
                "api_key": "sk-ant-upstream-secret",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": "claude-fake"}],
            },
            {
                "name": "gem",
                "kind": "gemini",
                "base_url": fake_gemini.base_url + "/v1beta",
                "api_key": "gemini-upstream-secret",
                "timeout_s": 5,
                "probe_interval_s": 0,
                "models": [{"id": "gemini-fake"}],
            },
        ],
        "routes": [
            {
                "name": "route/cut-to-backup",
                "targets": [
                    {"provider": "primary", "model": "fake-cut"},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/stall-to-claude",
                "targets": [
                    {"provider": "primary", "model": "fake-stall-mid"},
                    {"provider": "claude", "model": "claude-fake", "priority": 1},
                ],
            },
            {
                "name": "route/cut-no-prefill",
                "targets": [
                    {"provider": "primary2", "model": "fake-cut"},
                    {"provider": "gem", "model": "gemini-fake", "priority": 1},
                ],
            },
            {
                "name": "route/cut-recovery-off",
                "params": {"mid_stream_recovery": False},
                "targets": [
                    {"provider": "primary3", "model": "fake-cut"},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/cut-refused-prefill",
                "targets": [
                    {"provider": "primary4", "model": "fake-cut"},
                    {"provider": "refuser", "model": "fake-400", "priority": 1},
                    {"provider": "claude", "model": "claude-fake", "priority": 2},
                ],
            },
            {
                "name": "route/cut-completions",
                "targets": [
                    {"provider": "compat-cut", "model": "fake-cut"},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/hedged-p95",
                "params": {"hedge_p95": True},
                "targets": [
                    {"provider": "primary5", "model": "gpt-fake"},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/hedged",
                "params": {"hedge_after_ms": 200},
                "targets": [
                    {"provider": "primary", "model": "fake-slow-1500"},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    with gateway_on(backend, tmp_path_factory.mktemp("recovering"), config) as gw:
        yield gw


def _script(fake_openai: FakeOpenAI, *others: Any, model: str = "fake-cut") -> None:
    fake_openai.script(model, {"text": TEXT, "chunks": 12})
    for fake, name in others:
        fake.script(name, {"text": TEXT})


def _stream_text(gw: GatewayProcess, model: str, **extra: Any) -> tuple[str, list[Any]]:
    chunks = list(
        gw.openai().chat.completions.create(
            model=model, messages=[{"role": "user", "content": "tell me"}], stream=True, **extra
        )
    )
    return "".join(c.choices[0].delta.content or "" for c in chunks if c.choices), chunks


def test_a_cut_native_completions_stream_is_continued_through_chat(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    fake_backup.script("gpt-fake", {"text": " continues tell me"})
    chunks = list(
        recovering.openai().completions.create(
            model="route/cut-completions", prompt="tell me", stream=True, stream_options={"include_usage": True}
        )
    )
    assert "".join(c.choices[0].text for c in chunks if c.choices) == " continues tell me"
    assert {c.id for c in chunks} == {"cmpl-fake123"} and {c.object for c in chunks} == {"text_completion"}
    assert [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason] == ["stop"]
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens > 0
    assert fake_openai.requests_for("/v1/completions")[-1].json()["prompt"] == "tell me"
    continued = fake_backup.requests_for("/v1/chat/completions")[-1].json()["messages"]
    assert continued == [{"role": "user", "content": "tell me"}, {"role": "assistant", "content": " continues tell"}]


def test_cut_stream_is_continued_on_the_next_target(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    _script(fake_openai, (fake_backup, "gpt-fake"))
    text, chunks = _stream_text(recovering, "route/cut-to-backup", stream_options={"include_usage": True})
    assert text == TEXT
    assert len({c.id for c in chunks}) == 1  # one answer, one id
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    usage = [c.usage for c in chunks if c.usage is not None]
    continued = fake_backup.requests_for("/chat/completions")[-1].json()["messages"]
    partial = continued[-1]["content"]
    assert continued[-1]["role"] == "assistant" and TEXT.startswith(partial)
    assert 0 < len(partial) < len(TEXT)
    # combined usage: the backup reports only its continuation (the fake counts len // 4); the
    # caller is billed for the partial answer too, and not for it again as prompt
    backup_completion = max(1, (len(TEXT) - len(partial)) // 4)
    backup_prompt = sum(len(json.dumps(m)) // 4 for m in continued)
    assert len(usage) == 1
    assert backup_completion < usage[0].completion_tokens <= backup_completion + len(partial)
    assert usage[0].prompt_tokens < backup_prompt
    assert usage[0].total_tokens == backup_prompt + backup_completion  # moved from prompt to completion


def test_a_candidate_that_refuses_the_prefill_is_skipped_for_the_next(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    _script(fake_openai, (fake_anthropic, "claude-fake"))
    text, chunks = _stream_text(recovering, "route/cut-refused-prefill")
    assert text == TEXT
    assert chunks[-1].model == "claude/claude-fake"
    refused = fake_backup.requests_for("/chat/completions")
    assert [r.json()["messages"][-1]["role"] for r in refused] == ["assistant"]  # one try, no retry of a 400
    assert fake_anthropic.requests_for("/messages")[-1].json()["messages"][-1]["role"] == "assistant"


def test_stalled_stream_is_continued_on_anthropic(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> None:
    _script(fake_openai, (fake_anthropic, "claude-fake"), model="fake-stall-mid")
    started = time.monotonic()
    text, chunks = _stream_text(recovering, "route/stall-to-claude")
    assert text == TEXT
    assert time.monotonic() - started < 8
    assert chunks[-1].model == "claude/claude-fake"  # the model that finished the answer is named


def test_anthropic_client_gets_one_message_after_recovery(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    _script(fake_openai, (fake_backup, "gpt-fake"))
    with recovering.anthropic().messages.stream(
        model="route/cut-to-backup", max_tokens=300, messages=[{"role": "user", "content": "tell me"}]
    ) as stream:
        events = [e.type for e in stream]
        final = stream.get_final_message()
    assert final.content[0].text == TEXT
    assert events.count("message_start") == 1 and events.count("message_stop") == 1
    assert final.stop_reason == "end_turn"


@pytest.mark.parametrize("route", ["route/cut-no-prefill", "route/cut-recovery-off"])
def test_without_a_continuing_candidate_the_stream_ends_with_an_error(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, route: str
) -> None:
    _script(fake_openai)
    with (
        httpx.Client(base_url=recovering.base_url, timeout=30) as http,
        http.stream(
            "POST",
            "/v1/chat/completions",
            json={"model": route, "stream": True, "messages": [{"role": "user", "content": "tell me"}]},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as resp,
    ):
        lines = [line for line in resp.iter_lines() if line.startswith("data: ")]
    assert lines[-1] != "data: [DONE]"
    assert "error" in json.loads(lines[-1][6:])


def test_hedging_answers_from_the_fast_target(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    started = time.monotonic()
    raw = recovering.openai().chat.completions.with_raw_response.create(
        model="route/hedged", messages=[{"role": "user", "content": "race"}]
    )
    elapsed = time.monotonic() - started
    completion = raw.parse()
    assert completion.model == "backup/gpt-fake"
    assert elapsed < 1.2  # the primary would have taken 1.5 s
    assert raw.headers["x-polyroute-attempts"] == "2"
    assert len(fake_openai.requests_for("/chat/completions")) == 1
    assert len(fake_backup.requests_for("/chat/completions")) == 1


def test_hedging_after_the_observed_p95_time_to_first_token(
    recovering: GatewayProcess, fake_openai: FakeOpenAI, fake_backup: FakeOpenAI
) -> None:
    # Five samples make a p95; until then nothing is hedged. (A sixth fast request could be: by design
    # one in twenty is, and with five samples the p95 is their maximum.)
    for _ in range(5):
        _, chunks = _stream_text(recovering, "route/hedged-p95")
        assert chunks[-1].model == "primary5/gpt-fake"
    assert fake_backup.requests_for("/chat/completions") == []
    fake_openai.script("gpt-fake", {"delay_ms": 4000})  # the primary's next answer is far in its tail
    started = time.monotonic()
    raw = recovering.openai().chat.completions.with_raw_response.create(
        model="route/hedged-p95", messages=[{"role": "user", "content": "race"}], stream=True
    )
    chunks = list(raw.parse())
    assert time.monotonic() - started < 3
    assert chunks[-1].model == "backup/gpt-fake"
    assert raw.headers["x-polyroute-attempts"] == "2"
