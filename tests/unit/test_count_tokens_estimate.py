"""The count_tokens estimate reads every text a Messages request carries, and no base64 or ids."""

from __future__ import annotations

import warnings

import pytest

from app.accounting.tokens import count_tokens
from app.api.inference.count_tokens import estimate_input_tokens


@pytest.fixture(scope="module", autouse=True)
def _tokenizer_loaded() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # bpe_openai reads its data through a deprecated API
        count_tokens("warm up")


def test_tool_calls_and_results_count_and_images_count_a_fixed_figure() -> None:
    result = "line of a file " * 200
    plain = {"messages": [{"role": "user", "content": "hi"}]}
    tools = {
        "system": [{"type": "text", "text": "You are terse.", "cache_control": {"type": "ephemeral"}}],
        "messages": [
            {"role": "user", "content": "read it"},
            {
                "role": "assistant",
                "content": [{"type": "tool_use", "id": "toolu_1", "name": "read", "input": {"path": "a.py"}}],
            },
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": result}]},
        ],
        "tools": [{"name": "read", "description": "Read a file", "input_schema": {"type": "object"}}],
    }
    assert estimate_input_tokens(tools) >= count_tokens(result) > 10 * estimate_input_tokens(plain)
    image = {"type": "image", "source": {"type": "base64", "media_type": "image/png", "data": "A" * 100_000}}
    with_image = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "hi"}]}]}
    assert estimate_input_tokens(with_image) - estimate_input_tokens(plain) == 1600  # the base64 is not read
