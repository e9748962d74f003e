"""The config examples in the README and examples/polyroute.yaml are valid config files: a reader who copies
one gets a gateway that starts, not a YAML error (two README blocks had unquoted `${...}` in flow mappings)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import pytest

from app.catalog.config_file import parse_config

ROOT = Path(__file__).resolve().parents[2]
BLOCKS = re.findall(r"```yaml\n(.*?)```", (ROOT / "README.md").read_text(), re.S)


class _AnyVariable(Mapping[str, str]):
    """Every `${VAR}` the examples name is set (to a value every field they fill accepts)."""

    def __getitem__(self, name: str) -> str:
        return "sk-example-0123456789abcdef"

    def __iter__(self):  # type: ignore[no-untyped-def]
        return iter(())

    def __len__(self) -> int:
        return 0

    def __contains__(self, name: object) -> bool:
        return True


def _as_config(block: str) -> str:
    """A fragment of `providers:` entries (indented `- {...}`) becomes a whole file."""
    return block if not block.startswith("  - ") else "providers:\n" + block


@pytest.mark.parametrize("block", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_every_readme_example_is_a_valid_config(block: str) -> None:
    config = parse_config(_as_config(block), _AnyVariable(), "README.md")
    assert config.providers or config.plans or config.routes


def test_the_example_file_and_its_commented_clouds_are_valid() -> None:
    text = (ROOT / "examples" / "polyroute.yaml").read_text()
    assert parse_config(text, _AnyVariable()).providers
    clouds = text.split("# The clouds", 1)[1].split("\nroutes:", 1)[0].splitlines()[1:]
    entries = [re.sub(r"^  # ?", "  ", line) for line in clouds if not line.lstrip().startswith("# (")]
    kinds = [p.kind for p in parse_config("providers:\n" + "\n".join(entries), _AnyVariable()).providers]
    assert kinds == ["azure", "bedrock", "vertex"]
