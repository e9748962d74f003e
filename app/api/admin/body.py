"""A Litestar DTO that decodes management request bodies strictly: no coercion, 400 or 422 problems."""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import parse_qsl

import msgspec
from litestar.connection import ASGIConnection
from litestar.dto import AbstractDTO
from litestar.handlers.base import BaseRouteHandler
from litestar.typing import FieldDefinition

from app.api.decode import decode_json_object
from app.catalog.services.validation import FieldProblems, convert_strict
from app.errors import InvalidRequestError

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.dto._backend import DTOBackend
    from litestar.dto.data_structures import DTOFieldDefinition
    from litestar.openapi.spec import Reference, Schema

__all__ = ["MAX_ADMIN_BODY_BYTES", "StrictBody", "refuse_nul_in_url"]

MAX_ADMIN_BODY_BYTES = 1024 * 1024
"""Management bodies are small; anything larger is refused with 413 before it is read whole."""


def _nul_field(value: Any, path: str = "") -> str | None:
    """The dotted path of the first key or string holding a NUL character, or None."""
    if isinstance(value, str):
        return path or "$" if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            here = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                return here
            if (found := _nul_field(item, here)) is not None:
                return found
    if isinstance(value, list):
        for i, item in enumerate(value):
            if (found := _nul_field(item, f"{path}[{i}]")) is not None:
                return found
    return None


def _refuse_nul(doc: Any) -> Any:
    # Postgres text and jsonb cannot hold NUL: left to the database, any such value was a 500 there.
    if (field := _nul_field(doc)) is not None:
        problems = FieldProblems()
        problems.add(field, "must not contain a NUL character (\\u0000)")
        problems.raise_if_any()
    return doc


async def refuse_nul_in_url(connection: ASGIConnection[Any, Any, Any, Any], _: BaseRouteHandler) -> None:
    """Guard: a NUL (`%00`) in the path or query is a 400 before any parameter reaches the database."""
    if "\x00" in connection.scope["path"] or b"%00" in connection.scope.get("query_string", b""):
        raise InvalidRequestError("NUL characters (%00) are not allowed in management URLs")


class StrictBody(AbstractDTO[Any]):
    """Use as `dto=StrictBody, return_dto=None`: the handler's `data` type is the schema.

    Litestar's default path converts with `strict=False` ("5" -> 5, "true" -> True) and reports one
    error; this one refuses wrong types and lists every bad field. A body type with a true
    `accepts_form` class attribute also takes `application/x-www-form-urlencoded`.
    """

    _types: ClassVar[dict[str, Any]] = {}

    @classmethod
    def create_for_field_definition(
        cls, field_definition: FieldDefinition, handler_id: str, backend_cls: type[DTOBackend] | None = None
    ) -> None:
        cls._types[handler_id] = cls.resolve_model_type(field_definition).annotation

    @classmethod
    def create_openapi_schema(
        cls, field_definition: FieldDefinition, handler_id: str, schema_creator: SchemaCreator
    ) -> Reference | Schema:
        return schema_creator.for_field_definition(FieldDefinition.from_annotation(cls._types[handler_id]))

    @classmethod
    def generate_field_definitions(cls, model_type: type[Any]) -> Generator[DTOFieldDefinition, None, None]:
        yield from ()

    @classmethod
    def detect_nested_field(cls, field_definition: FieldDefinition) -> bool:
        return False

    def decode_bytes(self, value: bytes) -> Any:
        kind = self._types[self.asgi_connection.route_handler.handler_id]
        content_type = self.asgi_connection.headers.get("content-type", "")
        if content_type.startswith("application/x-www-form-urlencoded") and getattr(kind, "accepts_form", False):
            known = {f.encode_name for f in msgspec.structs.fields(kind)}
            form = parse_qsl(value.decode("utf-8", "replace"), keep_blank_values=True)
            return convert_strict(_refuse_nul({k: v for k, v in form if k in known}), kind)
        try:
            doc = decode_json_object(value)
        except RecursionError:
            raise InvalidRequestError("Request body is not valid JSON: nested too deeply") from None
        return convert_strict(_refuse_nul(doc), kind)

    def decode_builtins(self, value: dict[str, Any]) -> Any:
        return convert_strict(_refuse_nul(value), self._types[self.asgi_connection.route_handler.handler_id])
