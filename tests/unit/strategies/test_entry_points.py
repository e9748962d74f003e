"""Strategy lookup: built-ins by config name, third parties through the `polyroute.strategies` entry points."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import strategies
from strategies import ENTRY_POINT_GROUP, UnknownStrategyError
from strategies.base import Candidate, RouteContext

BUILTINS = ("cost-based", "latency-weighted", "plan-gated", "priority-fallback")

MODULE = '''
"""A strategy shipped by someone else: tries the targets in reverse order."""

from __future__ import annotations

from typing import ClassVar


class Reverse:
    name: ClassVar[str] = "reverse"

    def rank(self, candidates, ctx):
        return list(reversed(candidates))


class NotAStrategy:
    pass
'''


@pytest.fixture
def thirdparty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path that registers `reverse` (and a broken `broken`) without pip install."""
    (tmp_path / "thirdparty_strategy.py").write_text(textwrap.dedent(MODULE))
    dist = tmp_path / "thirdparty_strategy-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-strategy\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nreverse = thirdparty_strategy:Reverse\nbroken = thirdparty_strategy:NotAStrategy\n"
    )
    monkeypatch.setattr(strategies, "_cache", {})
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()  # drops importlib.metadata's cached path listings too
    yield tmp_path
    sys.modules.pop("thirdparty_strategy", None)
    monkeypatch.undo()
    importlib.invalidate_caches()


def test_every_builtin_is_registered_under_its_config_name_with_the_house_naming() -> None:
    assert set(BUILTINS) <= set(strategies.available())
    for name in BUILTINS:
        instance = strategies.get(name)
        assert instance.name == name
        module = name.replace("-", "_")
        assert type(instance).__module__ == f"strategies.{module}"
        assert type(instance).__name__ == "".join(part.capitalize() for part in module.split("_"))
        assert strategies.get(name) is instance, "strategies are stateless: one instance serves all"


def test_a_third_party_strategy_registers_through_entry_points(thirdparty: Path) -> None:
    assert "reverse" in strategies.available()
    found = strategies.get("reverse")
    assert type(found).__name__ == "Reverse"
    assert type(found).__module__ == "thirdparty_strategy"
    candidates = [Candidate("a", "m"), Candidate("b", "m"), Candidate("c", "m")]
    assert [c.provider for c in found.rank(candidates, RouteContext(route="r"))] == ["c", "b", "a"]


def test_not_visible_without_the_distribution_on_the_path() -> None:
    assert "reverse" not in strategies.available()
    with pytest.raises(UnknownStrategyError):
        strategies.get("reverse")


def test_an_entry_point_that_is_not_a_strategy_is_refused(thirdparty: Path) -> None:
    with pytest.raises(UnknownStrategyError, match="does not implement the Strategy protocol"):
        strategies.get("broken")


def test_unknown_name_lists_the_available_ones(thirdparty: Path) -> None:
    with pytest.raises(UnknownStrategyError) as caught:
        strategies.get("round-robin")
    message = str(caught.value)
    assert "round-robin" in message
    for name in (*BUILTINS, "reverse"):
        assert name in message
