"""The cache key: irrelevant fields and key order never change it; every relevant field does."""

from __future__ import annotations

import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from app.cache.key import IGNORED_FIELDS, cache_key, normalise

scalars = st.one_of(st.none(), st.booleans(), st.integers(-1000, 1000), st.text(max_size=8))
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=5), inner, max_size=3)),
    max_leaves=8,
)
messages = st.lists(
    st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system"]), "content": st.text(max_size=20)}),
    min_size=1,
    max_size=3,
)
RELEVANT = ("messages", "tools", "response_format", "temperature", "top_p", "max_tokens", "seed", "stop", "n")
bodies = st.fixed_dictionaries(
    {"messages": messages},
    optional={
        "tools": st.lists(
            st.fixed_dictionaries({"type": st.just("function"), "name": st.text(max_size=5)}), max_size=2
        ),
        "response_format": st.sampled_from([{"type": "text"}, {"type": "json_object"}]),
        "temperature": st.floats(0, 2, allow_nan=False),
        "top_p": st.floats(0, 1, allow_nan=False),
        "max_tokens": st.integers(1, 4096),
        "seed": st.integers(0, 2**31),
        "stop": st.lists(st.text(max_size=3), max_size=2),
    },
)


def key_of(body: dict[str, Any], **overrides: Any) -> str:
    args: dict[str, Any] = {"endpoint": "chat.completions", "model": "route/x", "stream": False, "scope": "key:k1"}
    args.update(overrides)
    return cache_key(body=body, **args)


def shuffled(value: Any, rng: random.Random) -> Any:
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@settings(max_examples=150, deadline=None)
@given(body=bodies, noise=st.dictionaries(st.sampled_from(sorted(IGNORED_FIELDS)), json_values), seed=st.integers())
def test_irrelevant_fields_and_key_order_never_change_the_key(
    body: dict[str, Any], noise: dict[str, Any], seed: int
) -> None:
    noisy = shuffled({**body, **noise}, random.Random(seed))
    assert key_of(noisy) == key_of(body)


@settings(max_examples=150, deadline=None)
@given(body=bodies, field=st.sampled_from(RELEVANT), value=json_values)
def test_a_relevant_field_always_changes_the_key(body: dict[str, Any], field: str, value: Any) -> None:
    changed = {**body, field: value}
    if normalise(changed) == normalise(body):
        changed = {**body, field: [value, "different"]}
    assert key_of(changed) != key_of(body)


@settings(max_examples=60, deadline=None)
@given(body=bodies, extra=json_values.filter(lambda v: v is not None))
def test_unknown_fields_count_they_might_change_the_answer(body: dict[str, Any], extra: Any) -> None:
    assert key_of({**body, "future_field": extra}) != key_of(body)


@given(body=bodies)
def test_endpoint_model_mode_scope_and_rewrite_are_each_part_of_the_key(body: dict[str, Any]) -> None:
    base = key_of(body)
    variants = [
        key_of(body, endpoint="messages"),
        key_of(body, model="route/y"),
        key_of(body, stream=True),
        key_of(body, scope="key:k2"),
        key_of(body, scope="shared"),
        key_of(body, extra={"messages": []}),
    ]
    assert len({base, *variants}) == len(variants) + 1


def test_integral_floats_and_top_level_nulls_are_normalised() -> None:
    body = {"messages": [{"role": "user", "content": "hi"}], "temperature": 0}
    assert key_of({**body, "temperature": 0.0}) == key_of(body)
    assert key_of({**body, "top_p": None}) == key_of(body)
    assert key_of({**body, "temperature": 0.5}) != key_of(body)
    assert key_of({**body, "temperature": True}) != key_of({**body, "temperature": 1})
    assert len(key_of(body)) == 64
