"""The `model` member of upstream JSON, found and renamed as bytes (stream frames pass through so)."""

from __future__ import annotations

import re

__all__ = ["MODEL_MEMBER", "sub_model"]

MODEL_MEMBER = re.compile(rb'"model"\s*:\s*"(?:[^"\\]|\\.)*"')
"""A `"model": "..."` member. Its first quote opens a key (inside a string a quote is escaped, and a
closing quote is never followed by `model`), so a match is a real member, at some depth."""


def sub_model(member: bytes, frame: bytes, count: int = 0) -> bytes:
    """`frame` with its `model` members (the first `count`, or all) replaced by `member` taken
    literally: as a `re.sub` template, a backslash in the public name would be unescaped."""
    return MODEL_MEMBER.sub(lambda _: member, frame, count=count)
