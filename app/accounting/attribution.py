"""Who a request was for, beyond the key: the caller's end user and tags, as usage records them.

The end user is the application's own user (one key serves many): the `x-polyroute-end-user`
header, else the field each dialect already has for it (OpenAI's `user` and `safety_identifier`,
Anthropic's `metadata.user_id`), so an application that sets those for its provider is attributed
without a change. Tags name whatever the operator reports by (team, feature, environment): the
`x-polyroute-tags` header (comma-separated) and the key's own `metadata.tags`, merged.

Pure functions: the pipeline checks the headers before admission (a malformed one is a 400, not
a silently lost label) and reads the body's fields when it accounts, after the answer has gone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from app.errors import InvalidRequestError

__all__ = [
    "END_USER_HEADER",
    "MAX_END_USER",
    "MAX_TAG",
    "MAX_TAGS",
    "TAGS_HEADER",
    "body_end_user",
    "header_labels",
    "key_tags",
    "merged_tags",
    "tags_problem",
]

END_USER_HEADER = "x-polyroute-end-user"
TAGS_HEADER = "x-polyroute-tags"
MAX_END_USER = 200
"""Characters kept of an end-user id (the request log's column)."""
MAX_TAG = 64
MAX_TAGS = 16
"""Tags per request, the key's and the header's together."""
_TAG = re.compile(r"[A-Za-z0-9_.:/@=+\-]{1,64}")
_TAG_RULE = f"1 to {MAX_TAG} characters of letters, digits and _ . : / @ = + -"


def _tag_list(raw: str) -> list[str]:
    return [part.strip() for part in raw.split(",") if part.strip()]


def header_labels(headers: Mapping[str, str]) -> tuple[str | None, tuple[str, ...]]:
    """The end user and tags the caller's headers name; 400 when either is malformed."""
    end_user = headers.get(END_USER_HEADER)
    if end_user is not None:
        end_user = end_user.strip() or None
        if end_user is not None and len(end_user) > MAX_END_USER:
            raise InvalidRequestError(
                f"Header {END_USER_HEADER} is {len(end_user)} characters; at most {MAX_END_USER}",
                param=END_USER_HEADER,
            )
    raw = headers.get(TAGS_HEADER)
    tags = tuple(dict.fromkeys(_tag_list(raw))) if raw else ()
    bad = [t for t in tags if not _TAG.fullmatch(t)]
    if bad:
        raise InvalidRequestError(
            f"Header {TAGS_HEADER}: {bad[0][:80]!r} is not a tag; a tag is {_TAG_RULE}, tags are comma-separated",
            param=TAGS_HEADER,
        )
    if len(tags) > MAX_TAGS:
        raise InvalidRequestError(f"Header {TAGS_HEADER} names {len(tags)} tags; at most {MAX_TAGS}", param=TAGS_HEADER)
    return end_user, tags


def body_end_user(body: Mapping[str, Any]) -> str | None:
    """The end user the request body names in its own dialect's field, cut to `MAX_END_USER`."""
    for value in (body.get("user"), body.get("safety_identifier")):
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_END_USER]
    metadata = body.get("metadata")
    if isinstance(metadata, dict):
        value = metadata.get("user_id")
        if isinstance(value, str) and value.strip():
            return value.strip()[:MAX_END_USER]
    return None


def tags_problem(metadata: Mapping[str, Any]) -> str | None:
    """Why a key's `metadata.tags` cannot be used (None: absent or fine); checked when the key is saved."""
    tags = metadata.get("tags")
    if tags is None:
        return None
    if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
        return "`tags` must be a list of strings"
    bad = [t for t in tags if not _TAG.fullmatch(t)]
    if bad:
        return f"{bad[0][:80]!r} is not a tag; a tag is {_TAG_RULE}"
    if len(set(tags)) > MAX_TAGS:
        return f"at most {MAX_TAGS} tags"
    return None


def key_tags(metadata: Mapping[str, object]) -> tuple[str, ...]:
    """A key's own tags (validated when the key was saved; anything else is ignored, never fatal)."""
    tags = metadata.get("tags")
    if not isinstance(tags, list):
        return ()
    return tuple(dict.fromkeys(t for t in tags if isinstance(t, str) and _TAG.fullmatch(t)))[:MAX_TAGS]


def merged_tags(*groups: Iterable[str]) -> tuple[str, ...]:
    """The key's tags then the request's, each once, at most `MAX_TAGS`."""
    return tuple(dict.fromkeys(t for group in groups for t in group))[:MAX_TAGS]
