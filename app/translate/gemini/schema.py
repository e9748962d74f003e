"""JSON schemas (tool parameters, response_format json_schema) cut to Gemini's OpenAPI subset (`clean_schema`).

The subset is `_SCHEMA_KEYS`: $ref is inlined from $defs/definitions, allOf merged, oneOf becomes
anyOf, const becomes enum, a type list becomes type + nullable (anyOf for several types), and
formats Gemini lacks are dropped. Every other key is dropped, notably additionalProperties,
$schema, $id, $defs, definitions, strict, examples, patternProperties, not and if/then/else. An
empty `properties` is removed (Gemini rejects it); properties/required stay on objects only, and
required keeps only the names properties define.
"""

from __future__ import annotations

from typing import Any

__all__ = ["clean_schema"]

Json = dict[str, Any]

_SCHEMA_WORDS = (  # Gemini's Schema fields (OpenAPI 3.0 subset); "format" is filtered separately
    "type title description nullable enum default example items properties required propertyOrdering anyOf "
    "minItems maxItems minProperties maxProperties minLength maxLength pattern minimum maximum"
)
_SCHEMA_KEYS = frozenset(_SCHEMA_WORDS.split())
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_SCHEMA_DEPTH = 24


def clean_schema(schema: Any) -> Json:
    """A JSON schema cut to the OpenAPI subset Gemini accepts (rules in the module docstring)."""
    if not isinstance(schema, dict):
        return {}
    defs = {**(schema.get("definitions") or {}), **(schema.get("$defs") or {})}
    return _clean(schema, defs, 0)


def _clean(schema: Any, defs: Json, depth: int) -> Json:
    if not isinstance(schema, dict) or depth > _MAX_SCHEMA_DEPTH:
        return {}
    ref = schema.get("$ref")
    if isinstance(ref, str):
        rest = {k: v for k, v in schema.items() if k != "$ref"}
        return _clean({**defs.get(ref.rsplit("/", 1)[-1], {}), **rest}, defs, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: Json = {}
        for sub in schema["allOf"]:
            merged.update(_clean(sub, defs, depth + 1))
        rest = {k: v for k, v in schema.items() if k != "allOf"}
        return {**merged, **_clean(rest, defs, depth + 1)}
    out: Json = {}
    for key, value in schema.items():
        _clean_key(out, key, value, defs, depth + 1)
    return _object_rules(out)


def _object_rules(out: Json) -> Json:
    """Gemini allows properties/required on OBJECT only, and only names its properties define."""
    if "properties" in out and "type" not in out and "anyOf" not in out:
        out["type"] = "object"
    if str(out.get("type", "object")).lower() != "object":
        out.pop("properties", None)
        out.pop("required", None)
    required = out.pop("required", None)
    names = out.get("properties") or {}
    kept = [name for name in required if name in names] if isinstance(required, list) else []
    if kept:
        out["required"] = kept
    return out


def _clean_key(out: Json, key: str, value: Any, defs: Json, depth: int) -> None:
    if key in ("anyOf", "oneOf") and isinstance(value, list):
        _any_of(out, [_clean(v, defs, depth) for v in value])
    elif key == "const":
        out["enum"] = [value]
    elif key == "type" and isinstance(value, list):
        _type_list(out, [str(t) for t in value])
    elif key == "properties" and isinstance(value, dict):
        if value:
            out["properties"] = {name: _clean(sub, defs, depth) for name, sub in value.items()}
    elif key == "items":
        out["items"] = _clean(value, defs, depth)
    elif key == "format":
        if value in _FORMATS:
            out["format"] = value
    elif key in _SCHEMA_KEYS:
        out[key] = value


def _any_of(out: Json, options: list[Json]) -> None:
    solid = [o for o in options if o.get("type") != "null"]
    if len(solid) == 1 and len(options) == 2:  # Optional[X] -> X, nullable
        for key, value in solid[0].items():
            out.setdefault(key, value)
        out["nullable"] = True
    else:
        out["anyOf"] = options


def _type_list(out: Json, types: list[str]) -> None:
    solid = [t for t in types if t != "null"]
    if len(solid) < len(types):
        out["nullable"] = True
    if len(solid) == 1:
        out["type"] = solid[0]
    elif solid:
        out["anyOf"] = [{"type": t} for t in solid]
