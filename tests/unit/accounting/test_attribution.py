"""Reading the end user and tags a request names: headers, each dialect's own field, the key's metadata."""

from __future__ import annotations

import pytest

from app.accounting.attribution import (
    MAX_TAGS,
    body_end_user,
    header_labels,
    key_tags,
    merged_tags,
    tags_problem,
)
from app.errors import InvalidRequestError


def test_headers_name_the_end_user_and_tags() -> None:
    assert header_labels({}) == (None, ())
    headers = {"x-polyroute-end-user": " u-42 ", "x-polyroute-tags": "team:search, env=prod,,team:search"}
    assert header_labels(headers) == ("u-42", ("team:search", "env=prod"))
    assert header_labels({"x-polyroute-end-user": "  "}) == (None, ())


@pytest.mark.parametrize(
    ("headers", "says"),
    [
        ({"x-polyroute-tags": "has space"}, "'has space' is not a tag"),
        ({"x-polyroute-tags": "ok,semi;colon"}, "'semi;colon' is not a tag"),
        ({"x-polyroute-tags": "x" * 65}, "is not a tag"),
        ({"x-polyroute-tags": ",".join(f"t{i}" for i in range(MAX_TAGS + 1))}, f"at most {MAX_TAGS}"),
        ({"x-polyroute-end-user": "u" * 201}, "at most 200"),
    ],
)
def test_malformed_headers_are_refused(headers: dict[str, str], says: str) -> None:
    with pytest.raises(InvalidRequestError, match=says) as caught:
        header_labels(headers)
    assert caught.value.status_code == 400


def test_each_dialect_names_its_end_user_in_its_own_field() -> None:
    assert body_end_user({"user": "openai-user"}) == "openai-user"
    assert body_end_user({"safety_identifier": "hashed-1"}) == "hashed-1"
    assert body_end_user({"user": "", "safety_identifier": "hashed-1"}) == "hashed-1"
    assert body_end_user({"metadata": {"user_id": "anthropic-user"}}) == "anthropic-user"
    assert body_end_user({"user": "u" * 500}) == "u" * 200
    for nothing in ({}, {"user": 7}, {"metadata": {"user_id": None}}, {"metadata": "x"}):
        assert body_end_user(nothing) is None


def test_key_tags_are_checked_when_saved_and_merged_first() -> None:
    assert tags_problem({}) is None and tags_problem({"tags": ["team:a"]}) is None
    assert tags_problem({"tags": "team:a"}) == "`tags` must be a list of strings"
    assert tags_problem({"tags": ["a b"]}) is not None
    assert tags_problem({"tags": [f"t{i}" for i in range(MAX_TAGS + 1)]}) == f"at most {MAX_TAGS} tags"
    assert key_tags({"tags": ["team:a", 3, "a b", "team:a"]}) == ("team:a",)  # each tag once: counted once
    assert key_tags({"tags": "team:a"}) == ()
    assert merged_tags(("team:a",), ("env=prod", "team:a")) == ("team:a", "env=prod")
    assert len(merged_tags([f"k{i}" for i in range(10)], [f"r{i}" for i in range(10)])) == MAX_TAGS
