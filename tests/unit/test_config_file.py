"""The declarative config file: expansion, validation messages, cross references."""

from __future__ import annotations

import pytest

from app.catalog.config_file import ConfigFileError, parse_config


def test_env_expansion_with_default() -> None:
    cfg = parse_config(
        "providers:\n  - {name: a, kind: openai, base_url: 'http://h/v1', api_key: '${K}', timeout_s: '${T:-7}'}\n",
        {"K": "secret"},
    )
    assert cfg.providers[0].api_key == "secret"
    assert cfg.providers[0].timeout_s == 7.0


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("providers:\n  - {name: '', kind: openai, base_url: 'http://h'}\n", "$.providers[0].name"),
        ("providers:\n  - {name: a, kind: openai, base_url: 'ftp://h'}\n", "$.providers[0].base_url"),
        ("providers:\n  - {name: a, kind: openai}\n", "$.providers[0].base_url"),
        (
            "providers:\n  - {name: a, kind: openai, base_url: 'http://h',"
            " models: [{id: m, input_cost_per_mtok: -1}]}\n",
            "$.providers[0].models[0].input_cost_per_mtok",
        ),
        ("providers:\n  - {name: a, kind: demo}\n  - {name: a, kind: demo}\n", "$.providers[1].name"),
        ("api_keys:\n  - {name: k, key: 'sk-poly-0123456789abcdef', plan: gold}\n", "$.api_keys[0].plan"),
        ("api_keys:\n  - {name: k, key: short}\n", "$.api_keys[0].key"),
        ("api_keys:\n  - {name: k, key: 'sk-poly-0123456789abcdef', team: red}\n", "$.api_keys[0].team"),
        ("teams:\n  - {name: red, plan: gold}\n", "$.teams[0].plan"),
        ("teams:\n  - {name: red}\n  - {name: red}\n", "$.teams[1].name"),
        ("teams:\n  - {name: red, limits: {rpm: -1}}\n", "$.teams[0].limits.rpm"),
        ("- 1\n- 2\n", "$"),
        (
            "providers:\n  - {name: a, kind: demo}\nroutes:\n"
            "  - {name: r, strategy: fastest, targets: [{provider: a, model: echo}]}\n",
            "$.routes[0].strategy",
        ),
        (
            "providers:\n  - {name: a, kind: demo}\nroutes:\n  - {name: r, strategy: plan-gated,"
            " params: {inner: cheapest}, targets: [{provider: a, model: echo}]}\n",
            "$.routes[0].params.inner",
        ),
        (
            "providers:\n  - {name: a, kind: demo}\nroutes:\n"
            "  - {name: r, params: {hooks: [pii, nope]}, targets: [{provider: a, model: echo}]}\n",
            "$.routes[0].params.hooks[1]",
        ),
        (
            "providers:\n  - {name: a, kind: demo}\nroutes:\n  - {name: r, params: {hooks: [pii],"
            " hook_options: {pii: {action: shred}}}, targets: [{provider: a, model: echo}]}\n",
            "$.routes[0].params.hook_options.pii",
        ),
    ],
)
def test_errors_name_the_place(text: str, where: str) -> None:
    with pytest.raises(ConfigFileError) as err:
        parse_config(text, {}, "f.yaml")
    assert err.value.where == where
    assert str(err.value).startswith(f"f.yaml: {where}")


def test_a_known_strategy_and_inner_pass() -> None:
    cfg = parse_config(
        "providers:\n  - {name: a, kind: demo}\nroutes:\n  - {name: r, strategy: plan-gated,"
        " params: {inner: cost-based}, targets: [{provider: a, model: echo}]}\n",
        {},
    )
    assert cfg.routes[0].strategy == "plan-gated" and cfg.routes[0].params.inner == "cost-based"


def test_a_hook_option_may_come_from_the_global_hook_options() -> None:
    text = (
        "providers:\n  - {name: a, kind: demo}\nroutes:\n"
        "  - {name: r, params: {hooks: [max-prompt]}, targets: [{provider: a, model: echo}]}\n"
    )
    with pytest.raises(ConfigFileError, match="max_tokens"):
        parse_config(text, {})
    cfg = parse_config(text, {"POLYROUTE_HOOK_OPTIONS": '{"max-prompt": {"max_tokens": 100}}'})
    assert cfg.routes[0].params.hooks == ["max-prompt"]
