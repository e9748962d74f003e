"""model_allowed: a plan's model globs, narrowed by the key's own allow-list, aliases included."""

from __future__ import annotations

from app.catalog.specs import Limits, PlanSpec
from app.gateway.resolve import model_allowed
from app.gateway.snapshot import KeyRecord


def _key(plan_models: list[str] | None, allowed: tuple[str, ...] | None = None) -> KeyRecord:
    plan = PlanSpec("p", models=plan_models) if plan_models is not None else None
    return KeyRecord("key_1", "k", "sk-poly-abcd", plan, allowed, Limits(), None)


def test_an_every_model_plan_without_an_allow_list_allows_anything() -> None:
    assert model_allowed(_key(["*"]), "openai/gpt-4o")
    assert model_allowed(_key(None), "route/anything")


def test_the_keys_allow_list_narrows_an_every_model_plan() -> None:
    key = _key(["*"], ("openai/*",))
    assert model_allowed(key, "openai/gpt-4o")
    assert not model_allowed(key, "anthropic/claude")
    assert not model_allowed(_key(None, ()), "openai/gpt-4o")  # an empty allow-list allows nothing


def test_plan_globs_match_the_name_or_an_alias() -> None:
    key = _key(["anthropic/*", "route/chat"])
    assert model_allowed(key, "anthropic/claude")
    assert not model_allowed(key, "openai/gpt-4o")
    assert model_allowed(key, "chat", ("route/chat",))  # a bare name resolved to an allowed route
    assert not model_allowed(_key([]), "anthropic/claude")
    assert not model_allowed(_key(["*", "x"], ("openai/*",)), "anthropic/claude")
