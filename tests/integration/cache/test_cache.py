"""The response cache through the real server, on both backends: hits never reach the upstream."""

from __future__ import annotations

import json
import time

import pytest

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.cache.conftest import NO_CACHE_PLAN_KEY, OPTED_IN_KEY, OTHER_KEY
from tests.integration.cache.helpers import chat, frames, logged, post, prompt, seen, stream_raw
from tests.integration.usage.harness import wait_fresh_window

CHAT = "/v1/chat/completions"
HEADER = "x-polyroute-cache"


def test_a_repeated_request_is_served_from_the_cache(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt()
    first = post(cached, CHAT, {"model": "route/cached", **chat(text)})
    second = post(cached, CHAT, {"model": "route/cached", **chat(text), "user": "someone", "metadata": {"a": "b"}})
    assert first.status_code == second.status_code == 200, first.text
    assert (first.headers[HEADER], second.headers[HEADER]) == ("miss", "hit")
    assert second.content == first.content
    assert seen(fake_openai, text) == 1, "the hit never reached the upstream"
    assert second.headers["x-polyroute-attempts"] == "0"
    assert second.headers["x-polyroute-model"] == "fakeai/gpt-fake"
    assert int(second.headers["age"]) >= 0
    completion = cached.openai().chat.completions.create(model="route/cached", messages=chat(text)["messages"])
    assert completion.choices[0].message.content == f"Hello from gpt-fake. You said: {text}"
    assert seen(fake_openai, text) == 1


def test_a_stream_is_replayed_with_its_original_chunking(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("stream")
    first, raw1 = stream_raw(cached, CHAT, {"model": "route/chunky", **chat(text)})
    second, raw2 = stream_raw(cached, CHAT, {"model": "route/chunky", **chat(text)})
    assert (first.headers[HEADER], second.headers[HEADER]) == ("miss", "hit")
    assert second.headers["content-type"].startswith("text/event-stream")
    assert frames(raw2) == frames(raw1) and len(frames(raw1)) >= 10  # 8 content chunks, role, finish, [DONE]
    assert raw2 == raw1
    assert seen(fake_openai, text) == 1
    chunks = list(
        cached.openai().chat.completions.create(model="route/chunky", messages=chat(text)["messages"], stream=True)
    )
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == (
        f"Hello from fake-chunks-8. You said: {text}"
    )
    assert seen(fake_openai, text) == 1


def test_the_usage_chunk_follows_what_each_caller_asked(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("usage")
    body = {"model": "route/cached", **chat(text)}
    _, plain = stream_raw(cached, CHAT, body)
    _, with_usage = stream_raw(cached, CHAT, {**body, "stream_options": {"include_usage": True}})
    _, plain_again = stream_raw(cached, CHAT, body)
    assert seen(fake_openai, text) == 1
    usage_frames = [f for f in frames(with_usage) if b'"usage":{' in f]
    assert len(usage_frames) == 1
    usage = json.loads(usage_frames[0].removeprefix(b"data: "))
    assert usage["choices"] == [] and usage["usage"]["total_tokens"] > 0
    assert frames(with_usage)[-1] == b"data: [DONE]" and frames(with_usage)[-2] == usage_frames[0]
    assert plain_again == plain and b'"usage":{' not in plain
    sdk = list(
        cached.openai().chat.completions.create(
            model="route/cached", messages=body["messages"], stream=True, stream_options={"include_usage": True}
        )
    )
    assert sdk[-1].usage is not None and sdk[-1].usage.total_tokens == usage["usage"]["total_tokens"]


def test_stream_and_whole_answers_are_kept_apart(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("modes")
    body = {"model": "route/cached", **chat(text)}
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    resp, _ = stream_raw(cached, CHAT, body)
    assert resp.headers[HEADER] == "miss"
    assert post(cached, CHAT, body).headers[HEADER] == "hit"
    assert stream_raw(cached, CHAT, body)[0].headers[HEADER] == "hit"
    assert seen(fake_openai, text) == 2


def test_refresh_fetches_anew_and_stores_what_it_got(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("refresh")
    body = {"model": "route/cached", **chat(text)}
    post(cached, CHAT, body)
    fake_openai.script("gpt-fake", {"text": "second answer"})
    refreshed = post(cached, CHAT, body, **{HEADER: "refresh"})
    assert refreshed.headers[HEADER] == "refresh"
    assert refreshed.json()["choices"][0]["message"]["content"] == "second answer"
    fake_openai.script("gpt-fake", {"text": "third answer"})
    no_cache = post(cached, CHAT, body, **{"cache-control": "no-cache"})
    assert no_cache.headers[HEADER] == "refresh"
    hit = post(cached, CHAT, body)
    assert hit.headers[HEADER] == "hit"
    assert hit.json()["choices"][0]["message"]["content"] == "third answer"
    assert seen(fake_openai, text) == 3


def test_off_neither_reads_nor_writes(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("off")
    body = {"model": "route/cached", **chat(text)}
    assert post(cached, CHAT, body, **{HEADER: "off"}).headers[HEADER] == "off"
    assert post(cached, CHAT, body, **{"cache-control": "no-store"}).headers[HEADER] == "off"
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    assert post(cached, CHAT, body, **{HEADER: "off"}).headers[HEADER] == "off"
    assert seen(fake_openai, text) == 4
    bad = post(cached, CHAT, body, **{HEADER: "sometimes"})
    assert bad.status_code == 400 and HEADER in bad.json()["detail"]


def test_opt_in_per_request_and_per_key_on_an_uncached_route(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("opt-in")
    body = {"model": "route/plain", **chat(text)}
    assert post(cached, CHAT, body).headers[HEADER] == "off"
    assert post(cached, CHAT, body, **{HEADER: "use"}).headers[HEADER] == "miss"
    assert post(cached, CHAT, body, **{HEADER: "use"}).headers[HEADER] == "hit"
    assert seen(fake_openai, text) == 2
    keyed = prompt("key-opt-in")
    body = {"model": "route/plain", **chat(keyed)}
    states = [post(cached, CHAT, body, key=OPTED_IN_KEY).headers[HEADER] for _ in range(2)]
    assert states == ["miss", "hit"]
    assert post(cached, CHAT, body).headers[HEADER] == "off", "another key has not opted in"


def test_a_plan_without_cache_wins_over_every_opt_in(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("plan")
    body = {"model": "route/cached", **chat(text)}
    states = [post(cached, CHAT, body, key=NO_CACHE_PLAN_KEY, **{HEADER: "use"}).headers[HEADER] for _ in range(2)]
    assert states == ["off", "off"]
    assert seen(fake_openai, text) == 2


def test_answers_are_kept_per_owner_unless_the_route_shares_them(
    cached: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    text = prompt("owner")
    body = {"model": "route/cached", **chat(text)}
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    assert post(cached, CHAT, body, key=OTHER_KEY).headers[HEADER] == "miss"
    assert post(cached, CHAT, body, key=OTHER_KEY).headers[HEADER] == "hit"
    assert seen(fake_openai, text) == 2
    shared = prompt("shared")
    body = {"model": "route/shared", **chat(shared)}
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    assert post(cached, CHAT, body, key=OTHER_KEY).headers[HEADER] == "hit"
    assert seen(fake_openai, shared) == 1


def test_keys_of_one_user_share_their_answers(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    name = prompt("user").replace(" ", "-")
    with cached.admin() as admin:
        user = admin.post("/v1/users", json={"username": name, "password": "a-long-password-1", "plan": "internal"})
        assert user.status_code == 201, user.text
        uid = user.json()["id"]
        keys = [admin.post("/v1/api-keys", json={"name": f"k{i}", "user_id": uid}).json()["key"] for i in range(2)]
    time.sleep(1.2)  # the catalog poll brings the new keys to the server
    text = prompt("same-user")
    body = {"model": "route/cached", **chat(text)}
    assert [post(cached, CHAT, body, key=k).headers[HEADER] for k in keys] == ["miss", "hit"]
    assert post(cached, CHAT, body).headers[HEADER] == "miss", "a key of no user is its own owner"


def test_an_entry_expires_after_the_route_ttl(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("ttl")
    body = {"model": "route/short", **chat(text)}
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    assert post(cached, CHAT, body).headers[HEADER] == "hit"
    time.sleep(1.3)
    assert post(cached, CHAT, body).headers[HEADER] == "miss"
    assert seen(fake_openai, text) == 2


def test_errors_and_cut_streams_are_never_cached(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("error")
    for _ in range(2):
        failed = post(cached, CHAT, {"model": "route/broken", **chat(text)})
        assert failed.status_code == 502 and failed.headers[HEADER] == "miss"
    assert seen(fake_openai, text) == 2
    cut = prompt("cut")
    for _ in range(2):
        resp, raw = stream_raw(cached, CHAT, {"model": "route/cut", **chat(cut)})
        assert resp.headers[HEADER] == "miss"
        assert b'"error"' in raw and b"[DONE]" not in raw
    assert seen(fake_openai, cut) == 2


@pytest.mark.parametrize("extra", [{"n": 2}, {"temperature": 0.7}])
def test_nondeterministic_requests_are_cached_only_where_the_route_says(
    cached: GatewayProcess, fake_openai: FakeOpenAI, extra: dict[str, object]
) -> None:
    text = prompt("hot")
    body = {**chat(text), **extra}
    assert [post(cached, CHAT, {"model": "route/cached", **body}).headers[HEADER] for _ in range(2)] == ["off", "off"]
    assert [post(cached, CHAT, {"model": "route/any", **body}).headers[HEADER] for _ in range(2)] == ["miss", "hit"]
    assert seen(fake_openai, text) == 3
    cold = prompt("cold")
    states = [post(cached, CHAT, {"model": "route/cached", **chat(cold), "temperature": 0}).headers[HEADER]]
    states.append(post(cached, CHAT, {"model": "route/cached", **chat(cold), "temperature": 0.0}).headers[HEADER])
    assert states == ["miss", "hit"]


def test_a_hit_is_accounted_with_no_tokens_and_what_it_saved(cached: GatewayProcess) -> None:
    text = prompt("account")
    body = {"model": "route/cached", **chat(text)}
    # the gateway's own request id (echoed in x-request-id) is the usage row's id
    first, second = post(cached, CHAT, body), post(cached, CHAT, body)
    miss, hit = logged(cached, first.headers["x-request-id"]), logged(cached, second.headers["x-request-id"])
    assert miss["status"] == hit["status"] == 200
    assert miss["cost_usd"] > 0 and miss["prompt_tokens"] > 0 and miss["provider"] == "fakeai"
    assert (hit["cost_usd"], hit["prompt_tokens"], hit["completion_tokens"], hit["provider"]) == (0, 0, 0, None)
    assert hit["attempt_count"] == 0
    # /v1/requests says it was a hit and what the replayed answer cost when it was fetched
    assert hit["cache"] == "hit"
    saved = hit["saved"]
    assert saved["prompt_tokens"] == miss["prompt_tokens"]
    assert saved["completion_tokens"] == miss["completion_tokens"]
    assert saved["cost_usd"] == pytest.approx(miss["cost_usd"])
    assert saved["served_by"] == "fakeai/gpt-fake"
    assert miss["cache"] == "miss" and miss["saved"] is None


def test_hits_still_count_against_the_request_rate(cached: GatewayProcess) -> None:
    from tests.integration.cache.conftest import LIMITED_KEY

    body = {"model": "route/cached", **chat(prompt("rpm"))}
    wait_fresh_window(15)  # four calls inside one minute: a busy machine once let the fourth into the next
    statuses = [post(cached, CHAT, body, key=LIMITED_KEY) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    assert [r.headers[HEADER] for r in statuses[:3]] == ["miss", "hit", "hit"]
    assert statuses[3].status_code == 429 and statuses[3].headers[HEADER] == "off"


def test_messages_answers_and_streams_are_cached(cached: GatewayProcess, fake_anthropic: FakeAnthropic) -> None:
    text = prompt("claude")
    body = {"model": "route/claude", "max_tokens": 64, **chat(text)}
    whole = [post(cached, "/v1/messages", body) for _ in range(2)]
    assert [r.headers[HEADER] for r in whole] == ["miss", "hit"] and whole[1].content == whole[0].content
    streamed = [stream_raw(cached, "/v1/messages", body) for _ in range(2)]
    assert [r.headers[HEADER] for r, _ in streamed] == ["miss", "hit"]
    assert frames(streamed[1][1]) == frames(streamed[0][1])
    assert seen(fake_anthropic, text, "/messages") == 2
    client = cached.anthropic()
    message = client.messages.create(model="route/claude", max_tokens=64, messages=body["messages"])
    assert text in message.content[0].text  # type: ignore[union-attr]
    with client.messages.stream(model="route/claude", max_tokens=64, messages=body["messages"]) as stream:
        assert text in stream.get_final_text()
    assert seen(fake_anthropic, text, "/messages") == 2


def test_responses_and_embeddings_are_cached(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    text = prompt("responses")
    body = {"model": "route/cached", "input": text, "store": False}
    whole = [post(cached, "/v1/responses", body) for _ in range(2)]
    assert [r.headers[HEADER] for r in whole] == ["miss", "hit"] and whole[1].content == whole[0].content
    streamed = [stream_raw(cached, "/v1/responses", body) for _ in range(2)]
    assert [r.headers[HEADER] for r, _ in streamed] == ["miss", "hit"] and streamed[1][1] == streamed[0][1]
    assert seen(fake_openai, text, "/responses") == 2
    client = cached.openai()
    with client.responses.stream(model="route/cached", input=text, store=False) as stream:
        assert text in stream.get_final_response().output_text
    embed = prompt("embed")
    vectors = [post(cached, "/v1/embeddings", {"model": "route/embed", "input": embed}) for _ in range(2)]
    assert [r.headers[HEADER] for r in vectors] == ["miss", "hit"] and vectors[1].json() == vectors[0].json()
    assert seen(fake_openai, embed, "/embeddings") == 1


def test_legacy_completions_are_cached_with_the_usage_chunk_each_caller_asked_for(
    cached: GatewayProcess, fake_openai: FakeOpenAI
) -> None:
    text = prompt("completions")
    body = {"model": "route/cached", "prompt": text}
    whole = [post(cached, "/v1/completions", body) for _ in range(2)]
    assert [r.headers[HEADER] for r in whole] == ["miss", "hit"] and whole[1].content == whole[0].content
    assert whole[0].json()["object"] == "text_completion"
    streamed = [stream_raw(cached, "/v1/completions", body) for _ in range(2)]
    assert [r.headers[HEADER] for r, _ in streamed] == ["miss", "hit"] and streamed[1][1] == streamed[0][1]
    assert b'"usage"' not in streamed[1][1]
    _, with_usage = stream_raw(cached, "/v1/completions", {**body, "stream_options": {"include_usage": True}})
    usage = [json.loads(f[6:]) for f in frames(with_usage) if f.startswith(b"data: {") and b'"usage"' in f]
    assert len(usage) == 1 and usage[0]["choices"] == [] and usage[0]["object"] == "text_completion"
    assert seen(fake_openai, text) == 2  # one whole answer, one stream: through chat, as gpt-fake has no endpoint


def test_reranks_are_cached(cached: GatewayProcess, fake_openai: FakeOpenAI) -> None:
    query = prompt("rerank")
    body = {"model": "route/rerank", "query": query, "documents": ["a b", query]}
    answers = [post(cached, "/v1/rerank", body) for _ in range(2)]
    assert [r.headers[HEADER] for r in answers] == ["miss", "hit"] and answers[1].json() == answers[0].json()
    assert answers[0].json()["results"][0]["index"] == 1
    assert seen(fake_openai, query, "/rerank") == 1


def test_uncacheable_endpoints_and_errors_before_routing_say_off(cached: GatewayProcess) -> None:
    unknown = post(cached, CHAT, {"model": "nope/none", **chat("x")})
    assert unknown.status_code == 400 and unknown.headers[HEADER] == "off"
    image = post(cached, "/v1/images/generations", {"model": "fakeai/gpt-fake", "prompt": "x"})
    assert HEADER not in image.headers
