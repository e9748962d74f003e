"""A gateway with request hooks: built-ins on some routes, third-party ones registered by entry points.

The third-party hooks are a module and a `*.dist-info/entry_points.txt` in a temporary directory put
on the server's PYTHONPATH: registered the way an installed package would be, without installing one.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import dialect_providers
from tests.db_backends import gateway_on
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

MODULE = '''
"""Hooks shipped by someone else."""

import json
import re

from hooks.base import BaseHook, HookVerdict


class Refuse(BaseHook):
    name = "refuse"

    def before(self, ctx):
        if "refuse-me" in json.dumps(ctx.request.get("messages")):
            return HookVerdict.reject("Our policy refuses this", status=403, code="POLICY_REFUSED")
        return HookVerdict.allow()


class Redact(BaseHook):
    """Card-like digit runs become [card] before anything leaves the gateway."""

    name = "redact"

    def before(self, ctx):
        def clean(message):
            content = message.get("content")
            if isinstance(content, str):
                return {**message, "content": re.sub(r"\\d{4}(-\\d{4})+", "[card]", content)}
            return message

        return HookVerdict.rewrite({**ctx.request, "messages": [clean(m) for m in ctx.request["messages"]]})


class Tag(BaseHook):
    name = "tag"

    async def after(self, ctx, response):
        return HookVerdict.annotate({"x-hooked": f"{ctx.endpoint}:{len(response.text)}"})
'''

GUARD = {
    "hooks": ["deny-list", "max-prompt"],
    "hook_options": {"deny-list": {"keywords": ["forbidden"], "responses": True}, "max-prompt": {"max_tokens": 40}},
    "retries": 0,
}


RESTORE = {"pii": {"restore": True}}
MODERATION_KEY = "sk-moderation-test-key"
"""What the gateway's environment holds under MODERATION_TEST_KEY: the moderation hook sends it."""


def moderated(base_url: str) -> list[dict[str, Any]]:
    """Routes guarded by the `moderation` hook against the fake's /v1/moderations (which flags "attack")."""

    def route(suffix: str, **options: Any) -> dict[str, Any]:
        options = {"base_url": base_url, "api_key_env": "MODERATION_TEST_KEY", **options}
        return _route(f"route/moderated{suffix}", "fakeai", "gpt-fake", hooks=["moderation"],
                      hook_options={"moderation": options}, retries=0)  # fmt: skip

    return [
        route(""),
        route("-answers", responses=True),
        route("-hate-only", categories=["hate"]),
        route("-threshold", thresholds={"violence": 0.95}),
        route("-down", base_url="http://127.0.0.1:9/v1", timeout_s=2),
        route("-down-allow", base_url="http://127.0.0.1:9/v1", timeout_s=2, on_error="allow"),
    ]


def _route(name: str, provider: str, model: str, **params: Any) -> dict[str, Any]:
    return {"name": name, "targets": [{"provider": provider, "model": model}], "params": params}


def hooks_config(openai: FakeOpenAI, anthropic: FakeAnthropic) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "fakeai",
                "kind": "openai",
                "base_url": openai.base_url + "/v1",
                "api_key": "sk-upstream-hooks",
                "timeout_s": 3,
                "models": [
                    {"id": "gpt-fake", "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0},
                    {"id": "gpt-3.5-turbo-instruct"},
                ],
            },
            *dialect_providers(anthropic, None),
        ],
        "routes": [
            _route("route/guarded", "fakeai", "gpt-fake", **GUARD),
            _route("route/guarded-claude", "claude", "claude-fake", **GUARD),
            _route("route/guarded-instruct", "fakeai", "gpt-3.5-turbo-instruct", **GUARD),
            _route("route/custom", "fakeai", "gpt-fake", hooks=["refuse", "redact"], retries=0),
            _route("route/custom-claude", "claude", "claude-fake", hooks=["redact"], retries=0),
            _route("route/refuse-instruct", "fakeai", "gpt-3.5-turbo-instruct", hooks=["refuse"], retries=0),
            _route("route/redact-instruct", "fakeai", "gpt-3.5-turbo-instruct", hooks=["redact"], retries=0),
            _route("route/plain", "fakeai", "gpt-fake", retries=0),
            _route("route/pii", "fakeai", "gpt-fake", hooks=["pii"], retries=0),
            _route("route/pii-claude", "claude", "claude-fake", hooks=["pii"], retries=0),
            _route("route/pii-restore", "fakeai", "gpt-fake", hooks=["pii"], hook_options=RESTORE, retries=0),
            *moderated(openai.base_url + "/v1"),
            _route("route/pii-restore-claude", "claude", "claude-fake", hooks=["pii"], hook_options=RESTORE, retries=0),
            _route(
                "route/pii-block",
                "fakeai",
                "gpt-fake",
                hooks=["pii"],
                hook_options={"pii": {"action": "block", "responses": True}},
                retries=0,
            ),
        ],
        "plans": [{"name": "internal", "models": ["*"]}],
        "api_keys": [{"name": "test", "key": API_KEY, "plan": "internal"}],
    }


@pytest.fixture(scope="module")
def hooked(
    backend: str, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI, fake_anthropic: FakeAnthropic
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("hooks")
    plugins = tmp / "plugins"
    plugins.mkdir()
    (plugins / "thirdparty_hooks.py").write_text(textwrap.dedent(MODULE))
    dist = plugins / "thirdparty_hooks-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-hooks\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(
        "[polyroute.hooks]\n"
        "refuse = thirdparty_hooks:Refuse\nredact = thirdparty_hooks:Redact\ntag = thirdparty_hooks:Tag\n"
    )
    env = {
        "PYTHONPATH": str(Path(plugins)),
        "POLYROUTE_HOOKS": "tag",
        "POLYROUTE_HOOK_OPTIONS": json.dumps({"deny-list": {"keywords": ["never-used-globally"]}}),
        "MODERATION_TEST_KEY": MODERATION_KEY,
    }
    with gateway_on(backend, tmp, hooks_config(fake_openai, fake_anthropic), env=env) as gw:
        yield gw
