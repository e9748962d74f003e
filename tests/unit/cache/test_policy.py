"""Who decides whether a request uses the cache: route, key, plan and the caller's headers."""

from __future__ import annotations

from typing import Any

import pytest

from app.cache.policy import cache_mode, cache_scope, nondeterministic
from app.catalog.specs import Limits, PlanSpec, RouteParams
from app.errors import InvalidRequestError
from app.gateway.snapshot import KeyRecord


def key(*, plan_cache: bool = True, metadata: dict[str, object] | None = None, user: str | None = None) -> KeyRecord:
    plan = PlanSpec(name="p", cache=plan_cache)
    return KeyRecord("key1", "k", "sk-poly-x", plan, None, Limits(), None, user, metadata or {})


ON, OFF = RouteParams(cache=True), RouteParams()


@pytest.mark.parametrize(
    ("params", "record", "headers", "mode"),
    [
        (ON, key(), {}, "use"),
        (OFF, key(), {}, "off"),
        (OFF, key(), {"x-polyroute-cache": "use"}, "use"),
        (OFF, key(), {"x-polyroute-cache": " Refresh "}, "refresh"),
        (ON, key(), {"x-polyroute-cache": "off"}, "off"),
        (OFF, key(metadata={"cache": True}), {}, "use"),
        (ON, key(metadata={"cache": False}), {}, "off"),
        (ON, key(plan_cache=False), {"x-polyroute-cache": "use"}, "off"),
        (ON, key(), {"cache-control": "no-cache"}, "refresh"),
        (ON, key(), {"cache-control": "no-store"}, "off"),
        (OFF, key(), {"cache-control": "no-cache"}, "off"),
        (ON, key(), {"x-polyroute-cache": "use", "cache-control": "no-cache"}, "use"),
    ],
)
def test_the_mode(params: RouteParams, record: KeyRecord, headers: dict[str, str], mode: str) -> None:
    assert cache_mode(params, record, headers) == mode


def test_an_unknown_header_value_is_a_400_naming_the_header() -> None:
    with pytest.raises(InvalidRequestError, match="x-polyroute-cache"):
        cache_mode(ON, key(), {"x-polyroute-cache": "always"})


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, False),
        ({"temperature": 0}, False),
        ({"temperature": 0.0, "n": 1}, False),
        ({"temperature": 0.2}, True),
        ({"n": 2}, True),
        ({"temperature": None, "n": None}, False),
    ],
)
def test_nondeterministic(body: dict[str, Any], expected: bool) -> None:
    assert nondeterministic(body) is expected


def test_scope_is_the_owner_or_shared() -> None:
    assert cache_scope(ON, key()) == "key:key1"
    assert cache_scope(ON, key(user="u1")) == "user:u1"
    assert cache_scope(RouteParams(cache=True, cache_shared=True), key(user="u1")) == "shared"
