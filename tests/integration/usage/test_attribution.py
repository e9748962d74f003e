"""Usage by end user and tag through the real server, driven by the official SDKs, on SQLite and Postgres."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import anthropic
import httpx
import openai
import pytest

from tests.conftest import dialect_providers
from tests.db_backends import BACKENDS, database_url
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.fakes.server import Received
from tests.gateway_process import GatewayProcess, start_gateway
from tests.integration.usage.harness import KEYS, fetch, usage_config, wait_until

TEAM_KEY = "sk-poly-usage-team-0123456789abcdef"
"""A config-file key whose metadata tags it `team:search`."""
MESSAGES = [{"role": "user", "content": "who am I?"}]
CALLS = 7
"""Usage rows the fixture's traffic leaves (the refused calls included)."""


@dataclass
class World:
    gw: GatewayProcess
    team_id: str
    upstream_saw: list[Received]
    """What the OpenAI fake received during the fixture's traffic."""

    def admin(self) -> httpx.Client:
        return self.gw.http(headers={"Authorization": f"Bearer {self.gw.admin_key}"})

    def usage(self, **params: Any) -> list[dict[str, Any]]:
        """On plan `open`: the fixture's traffic, not the refused calls of the tests below."""
        with self.admin() as admin:
            resp = admin.get("/v1/usage", params={"plan": "open", **params})
        assert resp.status_code == 200, resp.text
        data: list[dict[str, Any]] = resp.json()["data"]
        return data


def _openai(gw: GatewayProcess, key: str) -> openai.OpenAI:
    return openai.OpenAI(api_key=key, base_url=gw.base_url + "/v1", max_retries=0)


@pytest.fixture(scope="module", params=BACKENDS)
def world(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
) -> Iterator[World]:
    config = usage_config(fake_openai)
    config["providers"] += dialect_providers(fake_anthropic, None)
    team = {"name": "k-team", "key": TEAM_KEY, "plan": "open", "metadata": {"tags": ["team:search"]}}
    config["api_keys"].append(team)
    tmp = tmp_path_factory.mktemp(f"attribution-{request.param}")
    with database_url(str(request.param), tmp) as url:
        gw = start_gateway(tmp, config, database_url=url)
        seen = len(fake_openai.received)
        try:
            client = _openai(gw, TEAM_KEY)
            client.chat.completions.create(model="fakeai/gpt-fake", messages=MESSAGES, user="alice")  # type: ignore[arg-type]
            stream = client.chat.completions.create(
                model="fakeai/gpt-fake",
                messages=MESSAGES,  # type: ignore[arg-type]
                user="alice",
                stream=True,
            )
            assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
            client.chat.completions.create(
                model="fakeai/gpt-fake",
                messages=MESSAGES,  # type: ignore[arg-type]
                user="alice",  # the header names the end user for the gateway; `user` still goes upstream
                extra_headers={"x-polyroute-end-user": "bob", "x-polyroute-tags": "feature:summary, env=prod"},
            )
            client.chat.completions.create(
                model="fakeai/gpt-fake",
                messages=MESSAGES,  # type: ignore[arg-type]
                extra_body={"safety_identifier": "carol-hash"},
            )
            claude = anthropic.Anthropic(api_key=KEYS["open"], base_url=gw.base_url, max_retries=0)
            claude.messages.create(
                model="claude/claude-fake",
                max_tokens=50,
                messages=MESSAGES,
                metadata={"user_id": "dave"},  # type: ignore[arg-type]
            )
            with gw.http() as http:
                vendor = http.post(
                    "/vendors/fakeai/v1/chat/completions",
                    json={"model": "gpt-fake", "messages": MESSAGES},
                    headers={
                        "Authorization": f"Bearer {TEAM_KEY}",
                        "x-polyroute-end-user": "vera",
                        "x-polyroute-tags": "via:vendor",
                    },
                )
            assert vendor.status_code == 200, vendor.text
            with pytest.raises(openai.BadRequestError):  # refused, and still logged as the key's 400
                client.chat.completions.create(
                    model="fakeai/gpt-fake",
                    messages=MESSAGES,  # type: ignore[arg-type]
                    extra_headers={"x-polyroute-tags": "not a tag"},
                )
            wait_until(lambda: fetch(url, "SELECT COUNT(*) AS n FROM usage_event")[0]["n"] == CALLS)
            with gw.http(headers={"Authorization": f"Bearer {gw.admin_key}"}) as admin:
                keys = admin.get("/v1/api-keys", params={"limit": 100}).json()["data"]
            saw = fake_openai.received[seen:]
            yield World(gw, next(k["id"] for k in keys if k["name"] == "k-team"), saw)
        finally:
            gw.stop()


def test_usage_by_end_user_reads_each_dialects_own_field(world: World) -> None:
    users = {g["end_user"]: g["requests"] for g in world.usage(group_by="end_user")}
    assert users == {"alice": 2, "bob": 1, "carol-hash": 1, "dave": 1, "vera": 1, None: 1}
    alice = world.usage(end_user="alice", group_by="model")
    assert [(g["model"], g["requests"]) for g in alice] == [("gpt-fake", 2)]
    assert alice[0]["total_tokens"] > 0 and alice[0]["cost_usd"] > 0 and alice[0]["latency_ms_p50"] is not None
    (total,) = world.usage()
    by_user = world.usage(group_by="end_user")
    assert sum(g["requests"] for g in by_user) == total["requests"] == CALLS
    assert sum(g["cost_usd"] for g in by_user) == pytest.approx(total["cost_usd"])


def test_the_dashboard_series_narrows_to_an_end_user_or_a_tag(world: World) -> None:
    with world.admin() as admin:
        for params, expected in ((("end_user", "alice"),), 2), ((("tag", "via:vendor"),), 1):
            points = admin.get("/v1/usage/series", params=[("window", "day"), *params]).json()["points"]
            assert sum(p["requests"] for p in points) == expected, params
        assert admin.get("/v1/usage/series", params={"tag": "x" * 65}).status_code in (400, 422)


def test_usage_by_tag_merges_the_keys_tags_with_the_requests(world: World) -> None:
    tags = {g["tag"]: g["requests"] for g in world.usage(group_by="tag", key_id=world.team_id)}
    # every call of the team key carries its tag, the refused one too; the header adds its own
    assert tags == {"team:search": 6, "feature:summary": 1, "env=prod": 1, "via:vendor": 1}
    assert [(g["end_user"], g["requests"]) for g in world.usage(tag="env=prod", group_by="end_user")] == [("bob", 1)]
    untagged = [g["requests"] for g in world.usage(group_by="tag") if g["tag"] is None]
    assert untagged == [1]  # the Anthropic call, on a key without tags
    with world.admin() as admin:
        resp = admin.get("/v1/usage", params={"plan": "open", "group_by": "end_user,tag", "format": "csv"})
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    assert {(r["end_user"], r["tag"]) for r in rows} >= {("bob", "env=prod"), ("vera", "via:vendor"), ("dave", "")}


def test_the_request_log_shows_and_filters_by_attribution(world: World) -> None:
    with world.admin() as admin:
        (bob,) = admin.get("/v1/requests", params={"end_user": "bob"}).json()["data"]
        assert bob["tags"] == ["team:search", "feature:summary", "env=prod"] and bob["status"] == 200
        (vera,) = admin.get("/v1/requests", params={"tag": "via:vendor"}).json()["data"]
        assert (vera["endpoint"], vera["end_user"]) == ("vendor", "vera")
        (refused,) = admin.get("/v1/requests", params={"status": "400", "key_id": world.team_id}).json()["data"]
        assert refused["error_code"] == "INVALID_REQUEST" and refused["tags"] == ["team:search"]
        one = admin.get(f"/v1/requests/{bob['id']}").json()
        assert (one["end_user"], one["tags"]) == ("bob", bob["tags"])
        assert one["payload"] is None  # POLYROUTE_PAYLOAD_LOG is off unless set


def test_our_headers_never_go_upstream(world: World) -> None:
    calls = [r for r in world.upstream_saw if r.method == "POST"]  # not the health probes
    assert len(calls) == 5  # four chat calls and the vendor call
    assert all(not name.lower().startswith("x-polyroute-") for r in calls for name in r.headers)
    forwarded = [r for r in calls if b'"user":"alice"' in r.body.replace(b" ", b"")]
    assert len(forwarded) == 3  # the caller's own `user` field still reaches the provider


def test_an_inference_key_sees_only_its_own_end_users(world: World) -> None:
    with world.gw.http(headers={"Authorization": f"Bearer {TEAM_KEY}"}) as mine:
        users = {g["end_user"] for g in mine.get("/v1/usage", params={"group_by": "end_user"}).json()["data"]}
    assert users == {"alice", "bob", "carol-hash", "vera", None}  # None: the refused call


@pytest.mark.parametrize(
    "headers",
    [
        {"x-polyroute-tags": "semi;colon"},
        {"x-polyroute-tags": ",".join(f"t{i}" for i in range(17))},
        {"x-polyroute-tags": "x" * 65},
        {"x-polyroute-end-user": "u" * 201},
    ],
)
def test_malformed_attribution_headers_are_400_in_each_dialect(world: World, headers: dict[str, str]) -> None:
    with world.gw.http(headers={"Authorization": f"Bearer {KEYS['rpm30']}", **headers}) as http:
        chat = http.post("/v1/chat/completions", json={"model": "fakeai/gpt-fake", "messages": MESSAGES})
    assert chat.status_code == 400 and chat.headers["x-error-code"] == "INVALID_REQUEST"
    assert chat.headers["content-type"] == "application/problem+json"
    assert chat.json()["error"]["type"] == "invalid_request_error" and "x-polyroute-" in chat.json()["error"]["message"]
    claude = anthropic.Anthropic(api_key=KEYS["rpm30"], base_url=world.gw.base_url, max_retries=0)
    with pytest.raises(anthropic.BadRequestError, match="x-polyroute-") as refused:
        claude.messages.create(model="claude/claude-fake", max_tokens=5, messages=MESSAGES, extra_headers=headers)  # type: ignore[arg-type]
    assert refused.value.body["error"]["type"] == "invalid_request_error"  # type: ignore[index]


@pytest.mark.parametrize("tags", ["team:a", ["a b"], [1], [f"t{i}" for i in range(17)]])
def test_key_tags_are_checked_when_the_key_is_saved(world: World, tags: Any) -> None:
    with world.admin() as admin:
        created = admin.post("/v1/api-keys", json={"name": "tagged", "metadata": {"tags": tags}})
        assert created.status_code in (400, 422) and "tags" in created.text, created.text
        ok = admin.post("/v1/api-keys", json={"name": "tagged", "metadata": {"tags": ["team:a"]}})
        assert ok.status_code == 201, ok.text
        patched = admin.patch(f"/v1/api-keys/{ok.json()['id']}", json={"metadata": {"tags": tags}})
        assert patched.status_code in (400, 422) and "tags" in patched.text, patched.text
        assert admin.get(f"/v1/api-keys/{ok.json()['id']}").json()["metadata"] == {"tags": ["team:a"]}
