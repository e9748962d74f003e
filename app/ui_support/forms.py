"""HTML form data -> the JSON-shaped documents the catalog services validate, and their errors back.

Forms only translate: a number field that is not a number becomes a field problem here, and every
other rule stays in the services (`convert_strict` and the service checks), whose 422 field paths
(`models[0].id`, `params.retries`) are the keys the templates look errors up by.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from app.errors import GatewayError, ValidationFailedError

__all__ = ["FormDoc", "errors_of", "lines", "number", "plain_message", "rows", "text"]

FormDoc = dict[str, Any]
_ROW_FIELD = re.compile(r"^(?P<prefix>[a-z_]+)\.(?P<token>[A-Za-z0-9_-]{1,40})\.(?P<field>[a-z_]+)$")


def text(form: Mapping[str, Any], name: str) -> str:
    value = form.get(name, "")
    return value.strip() if isinstance(value, str) else ""


def number(
    form: Mapping[str, Any], name: str, problems: dict[str, str], *, integer: bool = False, key: str | None = None
) -> int | float | str | None:
    """Blank -> None; a number -> int/float; anything else is kept as typed and reported."""
    raw = text(form, name)
    if not raw:
        return None
    try:
        return int(raw) if integer else float(raw)
    except ValueError:
        problems[key or name] = "must be a whole number" if integer else "must be a number"
        return raw


def lines(value: str) -> list[str]:
    """A textarea of patterns: one per line (commas work too), blanks dropped."""
    return [part.strip() for part in re.split(r"[\n,]", value) if part.strip()]


def rows(form: Iterable[tuple[str, Any]], prefix: str) -> list[dict[str, str]]:
    """Repeated rows named `<prefix>.<token>.<field>`, in the order the form lists them."""
    found: dict[str, dict[str, str]] = {}
    for name, value in form:
        match = _ROW_FIELD.match(name)
        if match and match["prefix"] == prefix and isinstance(value, str):
            found.setdefault(match["token"], {})[match["field"]] = value.strip()
    return list(found.values())


_FORMATS = {
    "base_url": "must be an http:// or https:// URL",
    "name": "letters, digits, dots and dashes only, starting with a letter or digit",
}
_PLAIN = (
    (re.compile(r"^Expected `str` matching regex"), "is not in the expected format"),
    (re.compile(r"^Expected `str` of length >= 1"), "is required"),
    (re.compile(r"^Expected `int( \| null)?`, got `float`"), "must be a whole number"),
    (re.compile(r"^Expected `(float|int)( \| null)?` >= 0"), "must be 0 or more"),
    (re.compile(r"^Expected `(float|int)( \| null)?` > 0"), "must be more than 0"),
    (re.compile(r"^Expected `(?:float|int)(?: \| null)?` <= (?P<limit>[0-9.]+)"), "must be at most {limit}"),
)


def plain_message(field: str, message: str) -> str:
    """msgspec's wording ("Expected `str` matching regex ...") in words an operator reads at a glance."""
    for pattern, text in _PLAIN:
        match = pattern.match(message)
        if match:
            if text == "is not in the expected format":
                return _FORMATS.get(field.rsplit(".", 1)[-1], text)
            return text.format(**match.groupdict())
    return message


def errors_of(exc: GatewayError) -> dict[str, str]:
    """Field path -> message from a service's 422; anything else is a form-wide message under ''."""
    if isinstance(exc, ValidationFailedError):
        listed = exc.extra.get("errors")
        if isinstance(listed, list) and listed:
            out: dict[str, str] = {}
            for item in listed:
                if isinstance(item, dict):
                    field = str(item.get("field", ""))
                    out.setdefault(field, plain_message(field, str(item.get("message", ""))))
            return out
    return {"": exc.detail}
