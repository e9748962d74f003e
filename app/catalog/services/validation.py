"""Strict conversion of decoded JSON into specs, reporting every bad field as a 422."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

import msgspec

from app.errors import ValidationFailedError

__all__ = ["FieldError", "FieldProblems", "convert_strict", "field_error"]

T = TypeVar("T")

FieldError = dict[str, str]
"""`{"field": "models[0].id", "message": "..."}`; messages never echo the rejected value."""


def _join(prefix: str, path: str) -> str:
    """`prefix` + a msgspec path (`$`, `$.a`, `$[0].b`) -> `prefix.a`, `prefix[0].b`."""
    rest = path[1:] if path.startswith("$") else path
    if not prefix:
        return rest[1:] if rest.startswith(".") else rest
    return prefix + rest


def field_error(exc: msgspec.ValidationError, prefix: str = "") -> FieldError:
    """Turn msgspec's "message - at `$.path`" into a field error."""
    text = str(exc)
    message, sep, where = text.rpartition(" - at `")
    path = where.rstrip("`") if sep else "$"
    if not sep:
        message = text
    if path.startswith("key` in `"):  # a mapping's key was refused: name the mapping, say it was a key
        path, message = path[len("key` in `") :], f"a key: {message}"
    if message.startswith("Object missing required field `"):
        missing = message.split("`")[1]
        field = _join(prefix, f"{path}.{missing}")
        return {"field": field, "message": "required field is missing"}
    if message.startswith("Object contains unknown field `"):
        unknown = message.split("`")[1]
        return {"field": _join(prefix, f"{path}.{unknown}"), "message": "unknown field"}
    return {"field": _join(prefix, path) or "$", "message": message}


def _struct_errors(doc: dict[str, Any], kind: type[msgspec.Struct], prefix: str) -> list[FieldError]:
    """Check each field on its own, so one request reports all its mistakes at once."""
    fields = msgspec.structs.fields(kind)
    known = {f.encode_name for f in fields}
    errors: list[FieldError] = []
    if kind.__struct_config__.forbid_unknown_fields:
        for key in doc:
            if key not in known:
                errors.append({"field": _join(prefix, f"$.{key}"), "message": "unknown field"})
    for info in fields:
        name = info.encode_name
        if name not in doc:
            if info.required:
                errors.append({"field": _join(prefix, f"$.{name}"), "message": "required field is missing"})
            continue
        try:
            msgspec.convert(doc[name], info.type)
        except msgspec.ValidationError as exc:
            errors.append(field_error(exc, _join(prefix, f"$.{name}")))
    return errors


def _named(error: FieldError, kind: Any, prefix: str) -> FieldError:
    """A struct's own check (`__post_init__`) says `field: why`; the error then names that field."""
    name, sep, why = error["message"].partition(": ")
    fields = msgspec.structs.fields(kind) if isinstance(kind, type) and issubclass(kind, msgspec.Struct) else ()
    if sep and error["field"] == (prefix or "$") and name in {f.encode_name for f in fields}:
        return {"field": _join(prefix, f"$.{name}"), "message": why}
    return error


def summarize(errors: Iterable[FieldError]) -> str:
    return "Validation failed: " + "; ".join(f"{e['field']}: {e['message']}" for e in errors)


def convert_strict(doc: Any, kind: type[T], prefix: str = "") -> T:
    """`msgspec.convert` without coercion; a failure is a 422 naming every bad field."""
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        errors: list[FieldError] = []
        if isinstance(doc, dict) and isinstance(kind, type) and issubclass(kind, msgspec.Struct):
            errors = _struct_errors(doc, kind, prefix)
        if not errors:
            errors = [_named(field_error(exc, prefix), kind, prefix)]
        raise ValidationFailedError(summarize(errors), extra={"errors": errors}, param=errors[0]["field"]) from None


class FieldProblems:
    """Collects rule violations found after conversion (cross-field and cross-object checks)."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, field: str, message: str) -> None:
        self.errors.append({"field": field, "message": message})

    def raise_if_any(self) -> None:
        if self.errors:
            first = self.errors[0]["field"]
            raise ValidationFailedError(summarize(self.errors), extra={"errors": self.errors}, param=first)
