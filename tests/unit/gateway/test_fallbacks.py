"""Fallback models named in the body: taken out of it, checked, and ranked one model after another."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest

from app.errors import BudgetExceededError, InvalidRequestError, ProviderError
from app.gateway.fallbacks import rank_each, take_fallbacks


def test_both_fields_leave_the_body_and_list_their_names_in_order_once() -> None:
    body: dict[str, Any] = {"model": "a", "models": ["b", "c"], "fallbacks": [{"model": "c"}, "d"], "x": 1}
    assert take_fallbacks(body) == ["b", "c", "d"]
    assert body == {"model": "a", "x": 1}
    assert take_fallbacks({"models": None}) == []


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"models": "b"}, "models"),
        ({"fallbacks": {"model": "b"}}, "fallbacks"),
        ({"models": ["b", ""]}, "models[1]"),
        ({"fallbacks": [{"name": "b"}]}, "fallbacks[0]"),
        ({"models": [str(i) for i in range(9)]}, "models"),
    ],
)
def test_malformed_lists_are_refused_naming_the_field(body: dict[str, Any], param: str) -> None:
    with pytest.raises(InvalidRequestError) as refused:
        take_fallbacks(body)
    assert refused.value.param == param


def _target(key: str) -> Any:
    return SimpleNamespace(key=key)


def test_models_rank_one_after_another_and_a_target_is_tried_once() -> None:
    lists = {"a": ["p/1", "q/1"], "b": ["q/1", "r/1"]}
    targets, ranked = rank_each(
        ["a", "b"],  # type: ignore[list-item]
        lambda model: ([_target(k) for k in lists[model]], [model]),  # type: ignore[index,arg-type,return-value]
    )
    assert [t.key for t in targets] == ["p/1", "q/1", "r/1"]
    assert ranked == ["a", "b"]


def test_a_model_with_nothing_to_call_gives_way_and_the_first_reason_stands_alone() -> None:
    def rank(model: Any) -> Any:
        if model == "spent":
            raise BudgetExceededError("spent", retry_after=60)
        if model == "off":
            raise ProviderError("no enabled upstream")
        return [_target("p/1")], []

    targets, _ = rank_each(["spent", "ok"], rank)  # type: ignore[list-item]
    assert [t.key for t in targets] == ["p/1"]
    with pytest.raises(BudgetExceededError):
        rank_each(["spent", "off"], rank)  # type: ignore[list-item]
