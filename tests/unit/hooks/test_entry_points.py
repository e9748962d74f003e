"""Hook lookup: built-ins by name, third parties through the `polyroute.hooks` entry points."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import hooks
from hooks import ENTRY_POINT_GROUP, UnknownHookError

MODULE = '''
"""A hook shipped by someone else."""

from hooks.base import BaseHook, HookVerdict


class Shout(BaseHook):
    name = "shout"

    def before(self, ctx):
        if self.options.get("refuse"):
            return HookVerdict.reject("no", status=451, code="UNAVAILABLE_FOR_LEGAL_REASONS")
        return HookVerdict.allow()


class NotAHook:
    def __init__(self, options):
        pass
'''


@pytest.fixture
def thirdparty(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A distribution on sys.path that registers `shout` (and a broken `broken`) without pip install."""
    (tmp_path / "thirdparty_hook.py").write_text(textwrap.dedent(MODULE))
    dist = tmp_path / "thirdparty_hook-0.0.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: thirdparty-hook\nVersion: 0.0.0\n")
    (dist / "entry_points.txt").write_text(
        f"[{ENTRY_POINT_GROUP}]\nshout = thirdparty_hook:Shout\nbroken = thirdparty_hook:NotAHook\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    yield tmp_path
    sys.modules.pop("thirdparty_hook", None)
    monkeypatch.undo()
    importlib.invalidate_caches()


def test_builtins_are_registered_under_their_config_names() -> None:
    assert {"deny-list", "max-prompt"} <= set(hooks.available())
    assert type(hooks.build("deny-list")).__module__ == "hooks.deny_list"
    assert type(hooks.build("max-prompt", {"max_tokens": 5})).__module__ == "hooks.max_prompt"


def test_a_third_party_hook_registers_through_entry_points_and_gets_its_options(thirdparty: Path) -> None:
    assert "shout" in hooks.available()
    hook = hooks.build("shout", {"refuse": True})
    assert type(hook).__module__ == "thirdparty_hook"
    verdict = hook.before(None)  # type: ignore[arg-type]  # this hook does not look at the context
    assert (verdict.action, verdict.status, verdict.code) == ("reject", 451, "UNAVAILABLE_FOR_LEGAL_REASONS")  # type: ignore[union-attr]


def test_not_visible_without_the_distribution_on_the_path() -> None:
    with pytest.raises(UnknownHookError, match="unknown hook 'shout'"):
        hooks.build("shout")


def test_an_entry_point_that_is_not_a_hook_is_refused(thirdparty: Path) -> None:
    with pytest.raises(UnknownHookError, match="does not implement the RequestHook protocol"):
        hooks.build("broken")
