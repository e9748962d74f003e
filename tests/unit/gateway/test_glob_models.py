"""Glob model ids in a provider's list: which names they resolve, in what order, at what price."""

from __future__ import annotations

from app.catalog.specs import ModelSpec, RouteParams, TargetSpec, serves
from app.catalog.store import resolve_table
from app.gateway.snapshot import CatalogSnapshot, RouteEntry
from tests.entries import provider_entry


def _snapshot(**provider: object) -> CatalogSnapshot:
    models = {
        "gpt-4o": ModelSpec(id="gpt-4o", input_cost_per_mtok=5.0),
        "gpt-*": ModelSpec(id="gpt-*", input_cost_per_mtok=1.0, context_window=8000),
        "*": ModelSpec(id="*"),
    }
    entry = provider_entry(name="p", models=models, **provider)
    route = RouteEntry("p/gpt-routed", "priority-fallback", RouteParams(), (TargetSpec("p", "gpt-4o"),))
    providers, routes = {"p": entry}, {route.name: route}
    return CatalogSnapshot(1, providers, routes, {}, {}, {}, resolve_table(providers, routes))


def test_globs_resolve_names_they_match_and_are_not_names_themselves() -> None:
    snap = _snapshot()
    assert "p/gpt-*" not in snap.models and "p/*" not in snap.models and "gpt-*" not in snap.models
    found = snap.resolve_name("p/gpt-5")
    assert found is not None and found.name == "p/gpt-5" and found.targets == (TargetSpec("p", "gpt-5"),)
    assert snap.resolve_name("p/gpt-5") is found  # kept for the next request
    assert snap.resolve_name("p/vendor/model") is not None  # "*" takes ids with slashes too
    assert snap.resolve_name("p/gpt-*") is None and snap.resolve_name("p/*") is None
    assert snap.resolve_name("p/") is None and snap.resolve_name("q/gpt-5") is None
    assert snap.resolve_name("gpt-5") is None  # no bare names from a glob
    assert snap.resolve_name("p/" + "x" * 201) is None
    routed = snap.resolve_name("p/gpt-routed")
    assert routed is not None and routed.route is not None  # a route of that name wins


def test_the_first_matching_glob_prices_the_model_and_a_listed_id_wins() -> None:
    entry = _snapshot().providers["p"]
    assert entry.patterns == ("gpt-*", "*")
    assert entry.model("gpt-5") == ModelSpec(id="gpt-5", input_cost_per_mtok=1.0, context_window=8000)
    assert entry.model("claude") == ModelSpec(id="claude")
    assert entry.model("gpt-4o").input_cost_per_mtok == 5.0


def test_a_disabled_provider_resolves_nothing_and_the_kept_names_are_bounded() -> None:
    assert _snapshot(enabled=False).resolve_name("p/gpt-5") is None
    snap = _snapshot()
    for i in range(5000):
        assert snap.resolve_name(f"p/m{i}") is not None
    assert len(snap.matched) <= 4096


def test_serves_checks_listed_ids_then_globs() -> None:
    assert serves({"a", "gpt-*"}, "a") and serves({"a", "gpt-*"}, "gpt-x")
    assert not serves({"a", "gpt-*"}, "claude") and not serves({"a"}, "a*")
    assert not serves({"gpt-*"}, "gpt-*")  # a route target names a model, not a glob
