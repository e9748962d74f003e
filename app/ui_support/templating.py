"""The Jinja2 environment of the admin UI: autoescaped templates, display filters, static URLs."""

from __future__ import annotations

import hashlib
import json
import math
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.template.config import TemplateConfig

__all__ = [
    "STATIC_DIR",
    "TEMPLATE_DIR",
    "ago",
    "compact",
    "duration_ms",
    "environment",
    "money",
    "pretty",
    "static_url",
    "template_config",
    "when",
]

UI_ROOT = Path(__file__).resolve().parents[2] / "ui"
TEMPLATE_DIR = UI_ROOT / "templates"
STATIC_DIR = UI_ROOT / "static"
STATIC_PREFIX = "/ui/static"


@lru_cache(maxsize=64)
def static_url(name: str) -> str:
    """`/ui/static/app.css?v=<content hash>`: cached for a year, busted when the file changes."""
    digest = hashlib.sha256((STATIC_DIR / name).read_bytes()).hexdigest()[:10]
    return f"{STATIC_PREFIX}/{name}?v={digest}"


def money(value: float | None) -> str:
    if value is None:
        return "—"
    if value == 0:
        return "$0"
    if abs(value) < 0.01:
        # two significant digits: a cheap request reads $0.000036, not $0.0000
        decimals = min(8, max(4, 1 - math.floor(math.log10(abs(value)))))
        return f"${value:.{decimals}f}"
    return f"${value:,.2f}"


def compact(value: float | None) -> str:
    """1234 -> 1,234; 1234567 -> 1.23M."""
    if value is None:
        return "—"
    for bound, suffix in ((1e9, "B"), (1e6, "M")):
        if abs(value) >= bound:
            return f"{value / bound:.2f}{suffix}"
    return f"{value:,.0f}" if float(value).is_integer() or abs(value) >= 100 else f"{value:,.2f}"


def duration_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value / 1000:.2f} s" if value >= 1000 else f"{value:.0f} ms"


def _as_datetime(value: datetime | float | None) -> datetime | None:
    if value is None:
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromtimestamp(value, UTC)


def when(value: datetime | float | None) -> str:
    moment = _as_datetime(value)
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if moment else "—"


def ago(value: datetime | float | None, now: datetime | None = None) -> str:
    moment = _as_datetime(value)
    if moment is None:
        return "never"
    seconds = ((now or datetime.now(UTC)) - moment).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    for size, unit in ((86400, "d"), (3600, "h"), (60, "min")):
        if seconds >= size:
            text = f"{int(seconds // size)} {unit}"
            break
    else:
        text = f"{int(seconds)} s"
    return f"in {text}" if future else f"{text} ago"


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def pretty(text: str) -> str:
    """A kept body laid out for reading: indented when it is whole JSON, as it is otherwise (a cut body)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False)
    except ValueError:
        return text


def environment() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(default=True, default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(money=money, compact=compact, ms=duration_ms, when=when, ago=ago, percent=percent, pretty=pretty)
    env.globals["static"] = static_url
    return env


def template_config() -> TemplateConfig[JinjaTemplateEngine]:
    """For `Litestar(template_config=...)`."""
    return TemplateConfig(instance=JinjaTemplateEngine.from_environment(environment()))
