"""multipart/form-data bodies: read the fields we route on, and replace one field keeping every other byte.

Parsing and validation are the `multipart` package's (Litestar's own form parser). Each part's
byte span is then located between the boundary delimiters, which RFC 2046 guarantees never occur
inside a part, so a rewrite (the upstream model name) splices one part's body and leaves every
other part, file uploads included, byte for byte as the caller sent it.
"""

from __future__ import annotations

from dataclasses import dataclass

import multipart  # type: ignore[import-untyped]  # the package ships no type information

from app.errors import InvalidRequestError

__all__ = ["Form", "FormPart", "parse_form"]

MAX_PARTS = 100
"""More parts than any OpenAI upload form has; a guard against part floods."""


@dataclass(frozen=True, slots=True)
class FormPart:
    """One part: its form name, file name and content type, and where its body lies in the raw bytes."""

    name: str
    filename: str | None
    content_type: str | None
    start: int
    end: int

    @property
    def size(self) -> int:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Form:
    raw: bytes
    boundary: str
    parts: tuple[FormPart, ...]

    @property
    def content_type(self) -> str:
        return f"multipart/form-data; boundary={self.boundary}"

    def data(self, part: FormPart) -> bytes:
        return self.raw[part.start : part.end]

    def part(self, name: str) -> FormPart | None:
        return next((p for p in self.parts if p.name == name), None)

    def value(self, name: str) -> str | None:
        """The first non-file field called `name`, as text."""
        part = next((p for p in self.parts if p.name == name and p.filename is None), None)
        if part is None:
            return None
        try:
            return self.data(part).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidRequestError(f"Form field '{name}' is not valid UTF-8", param=name) from None

    def fields(self) -> dict[str, str | list[str]]:
        """Every non-file field as text (repeated names, like `timestamp_granularities[]`, as lists)."""
        out: dict[str, str | list[str]] = {}
        for part in self.parts:
            if part.filename is not None:
                continue
            text = self.data(part).decode("utf-8", "replace")
            seen = out.get(part.name)
            if seen is None:
                out[part.name] = text
            else:
                out[part.name] = [*seen, text] if isinstance(seen, list) else [seen, text]
        return out

    def replace(self, name: str, value: bytes) -> bytes:
        """The body with the first field `name` set to `value`; every other byte unchanged."""
        part = self.part(name)
        if part is None:
            raise KeyError(name)
        return self.raw[: part.start] + value + self.raw[part.end :]


def _boundary(content_type: str | None, raw: bytes) -> str:
    if content_type is None:
        # No header to read it from (an in-process call): the body's first line names it.
        first = raw.split(b"\r\n", 1)[0]
        if not first.startswith(b"--") or len(first) < 3:
            raise InvalidRequestError("Request body is not multipart/form-data")
        return first[2:].decode("latin-1")
    mime, options = multipart.parse_options_header(content_type)
    if mime != "multipart/form-data":
        raise InvalidRequestError(f"Expected a multipart/form-data body, got '{mime or 'no content type'}'")
    boundary = options.get("boundary")
    if not boundary:
        raise InvalidRequestError("multipart/form-data content type without a boundary")
    return str(boundary)


def _spans(raw: bytes, boundary: bytes) -> list[tuple[int, int]]:
    """(body start, body end) of every part, in order; the parser already proved the framing sound."""
    delimiter = b"--" + boundary
    pos = raw.find(delimiter)
    while pos > 0 and raw[pos - 2 : pos] != b"\r\n":
        pos = raw.find(delimiter, pos + 1)
    spans: list[tuple[int, int]] = []
    closing = b"\r\n" + delimiter
    pos += len(delimiter)
    while raw[pos : pos + 2] == b"\r\n":
        head = pos + 2
        start = head + 2 if raw[head : head + 2] == b"\r\n" else raw.find(b"\r\n\r\n", head) + 4
        end = raw.find(closing, start)
        spans.append((start, end))
        pos = end + len(closing)
    return spans


def parse_form(raw: bytes, content_type: str | None) -> Form:
    """Parse and validate the body; 400 naming the problem when it is not a well-formed form."""
    boundary = _boundary(content_type, raw)
    segments: list[multipart.MultipartSegment] = []
    try:
        with multipart.PushMultipartParser(boundary, max_segment_count=MAX_PARTS, strict=True) as parser:
            for event in parser.parse(raw):
                if isinstance(event, multipart.MultipartSegment):
                    segments.append(event)
    except multipart.MultipartError as exc:
        raise InvalidRequestError(f"Malformed multipart/form-data body: {exc}") from None
    spans = _spans(raw, boundary.encode("latin-1"))
    if len(spans) != len(segments):
        raise InvalidRequestError("Malformed multipart/form-data body: parts could not be delimited")
    parts = tuple(
        FormPart(str(seg.name or ""), seg.filename, seg.content_type, start, end)
        for seg, (start, end) in zip(segments, spans, strict=True)
    )
    return Form(raw, boundary, parts)
