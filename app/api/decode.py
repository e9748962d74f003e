"""Request body -> (dict, validated envelope), with 400s that name the bad field."""

from __future__ import annotations

from typing import Any, TypeVar

import msgspec

from app.errors import InvalidRequestError

__all__ = ["decode_json_object", "validate_envelope"]

T = TypeVar("T")


def decode_json_object(raw: bytes) -> dict[str, Any]:
    if not raw.strip():
        raise InvalidRequestError("Request body is empty; expected a JSON object")
    try:
        doc = msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise InvalidRequestError(f"Request body is not valid JSON: {exc}") from None
    except UnicodeDecodeError:
        raise InvalidRequestError("Request body is not valid UTF-8") from None
    if not isinstance(doc, dict):
        raise InvalidRequestError(f"Request body must be a JSON object, not {type(doc).__name__}")
    return doc


def validate_envelope(doc: dict[str, Any], kind: type[T]) -> T:
    try:
        return msgspec.convert(doc, kind)
    except msgspec.ValidationError as exc:
        message, _, where = str(exc).rpartition(" - at `")
        if not message:
            message, where = str(exc), "$"
        path = where.rstrip("`")
        field = path[2:] if path.startswith("$.") else path
        if message.startswith("Object missing required field"):
            missing = message.split("`")[1] if "`" in message else ""
            field = f"{field}.{missing}" if field != "$" else missing
            raise InvalidRequestError(f"Missing required field '{field}'", param=field) from None
        raise InvalidRequestError(f"Invalid value for '{field}': {message}", param=field) from None
