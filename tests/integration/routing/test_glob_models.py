"""Glob models: a provider listing `gpt-*` or `*` serves every model id they match as `<provider>/<id>`,
priced and described by the glob, checked against plans like any name, never listed as a model."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.db_backends import gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import API_KEY, GatewayProcess

pytestmark = pytest.mark.usefixtures("fakes_reset")

NARROW_KEY = "sk-poly-narrow-0123456789abcdefghij"


def _config(fake: FakeOpenAI) -> dict[str, Any]:
    return {
        "providers": [
            {
                "name": "wild",
                "kind": "openai-compatible",
                "base_url": fake.base_url + "/v1",
                "api_key": "sk-wild",
                "probe_interval_s": 0,
                "models": [
                    {"id": "gpt-fixed", "input_cost_per_mtok": 9.0},
                    {"id": "gpt-*", "input_cost_per_mtok": 2.0, "output_cost_per_mtok": 4.0, "context_window": 64000},
                    {"id": "*"},
                ],
            }
        ],
        "routes": [{"name": "route/wild", "targets": [{"provider": "wild", "model": "org/any-model"}]}],
        "plans": [{"name": "internal", "models": ["*"]}, {"name": "narrow", "models": ["wild/gpt-*"]}],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "narrow", "key": NARROW_KEY, "plan": "narrow"},
        ],
    }


@pytest.fixture(scope="module")
def wild(backend: str, tmp_path_factory: pytest.TempPathFactory, fake_backup: FakeOpenAI) -> Iterator[GatewayProcess]:
    with gateway_on(backend, tmp_path_factory.mktemp("glob"), _config(fake_backup)) as gw:
        yield gw


def test_any_model_a_glob_matches_is_served_by_its_own_name(wild: GatewayProcess, fake_backup: FakeOpenAI) -> None:
    client = wild.openai()
    for name, upstream in [
        ("wild/gpt-5-preview", "gpt-5-preview"),
        ("wild/meta-llama/Llama-3-8b", "meta-llama/Llama-3-8b"),
    ]:
        done = client.chat.completions.create(model=name, messages=[{"role": "user", "content": "hi"}])
        assert done.model == name
        assert fake_backup.requests_for("/chat/completions")[-1].json()["model"] == upstream
    assert client.completions.create(model="wild/gpt-base", prompt="x").model == "wild/gpt-base"
    # a route may name a model only a glob lists
    assert client.chat.completions.create(model="route/wild", messages=[{"role": "user", "content": "hi"}]).model == (
        "wild/org/any-model"
    )


def test_the_glob_prices_what_it_matches_and_a_listed_model_wins(wild: GatewayProcess) -> None:
    client = wild.openai()
    rows = {}
    for name in ("wild/gpt-5-preview", "wild/gpt-fixed", "wild/claude-x"):
        raw = client.chat.completions.with_raw_response.create(model=name, messages=[{"role": "user", "content": "hi"}])
        rows[name] = (raw.parse().usage, wild.logged(raw.headers["x-request-id"]))
    usage, row = rows["wild/gpt-5-preview"]
    assert usage is not None and row["cost_usd"] == pytest.approx(
        (usage.prompt_tokens * 2.0 + usage.completion_tokens * 4.0) / 1e6
    )
    usage, row = rows["wild/gpt-fixed"]
    assert usage is not None and row["cost_usd"] == pytest.approx(usage.prompt_tokens * 9.0 / 1e6)
    assert rows["wild/claude-x"][1]["cost_usd"] == 0  # "*" has no price


def test_models_show_what_a_glob_matches_only_when_asked_by_name(wild: GatewayProcess) -> None:
    headers = {"Authorization": f"Bearer {API_KEY}"}
    with httpx.Client(base_url=wild.v1, headers=headers) as http:
        listed = {m["id"] for m in http.get("/models").json()["data"]}
        assert listed == {"wild/gpt-fixed", "route/wild"}
        card = http.get("/models/wild/gpt-5-preview").json()
        assert card["id"] == "wild/gpt-5-preview" and card["context_window"] == 64000
        assert card["pricing"]["input_per_mtok"] == 2.0
        assert http.get("/models/wild/*").status_code == 404  # a glob is not a model


def test_plans_match_glob_served_names_like_any_other(wild: GatewayProcess) -> None:
    narrow = wild.openai(NARROW_KEY)
    ok = narrow.chat.completions.create(model="wild/gpt-anything", messages=[{"role": "user", "content": "hi"}])
    assert ok.model == "wild/gpt-anything"
    with pytest.raises(openai.PermissionDeniedError) as err:
        narrow.chat.completions.create(model="wild/claude-x", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "MODEL_NOT_ALLOWED"
    with pytest.raises(openai.BadRequestError) as unknown:
        wild.openai().chat.completions.create(model="nowhere/gpt-5", messages=[{"role": "user", "content": "hi"}])
    assert unknown.value.code == "INVALID_MODEL"


def test_the_management_api_takes_a_route_to_a_model_only_a_glob_lists(wild: GatewayProcess) -> None:
    route = {"name": "route/api-wild", "targets": [{"provider": "wild", "model": "x/y"}]}
    with wild.admin() as admin:
        made = admin.post("/v1/routes", json=route)
    assert made.status_code == 201, made.text
