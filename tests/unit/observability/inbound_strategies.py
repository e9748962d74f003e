"""Hypothesis strategies for what a caller may send an inference endpoint: near-valid bodies and garbage.

Near-valid bodies matter most: a random JSON object almost never gets past the first check, so
most bodies are a valid request with a few of the endpoint's own fields replaced (wrong types,
nesting, empty, huge numbers, odd unicode, other roles and content parts) or dropped; about a
third of those still parse and go on to translation and the upstream.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import strategies as st

__all__ = ["FIELDS", "VALID", "inbound_body", "json_values", "multipart_body"]

json_values: st.SearchStrategy[Any] = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)

_ROLES = st.sampled_from(["user", "assistant", "system", "tool", "developer", "function", "bogus", ""])
_message = st.fixed_dictionaries(
    {"role": _ROLES},
    optional={
        "content": json_values
        | st.lists(st.fixed_dictionaries({"type": st.sampled_from(["text", "image_url", "input_text", "x"])})),
        "tool_calls": json_values,
        "tool_call_id": json_values,
        "name": json_values,
    },
)
_COMMON = ["model", "stream", "max_tokens", "temperature", "top_p", "stop", "user", "metadata", "stream_options"]
FIELDS: dict[str, list[str]] = {
    "chat.completions": [*_COMMON, "messages", "tools", "tool_choice", "response_format", "n", "max_completion_tokens"],
    "messages": [*_COMMON, "messages", "system", "tools", "tool_choice", "stop_sequences", "thinking"],
    "responses": [*_COMMON, "input", "instructions", "tools", "previous_response_id", "store", "max_output_tokens"],
    "completions": ["model", "prompt", "max_tokens", "suffix", "echo", "logprobs", "best_of", "n", "stop", "stream"],
    "embeddings": ["model", "input", "dimensions", "encoding_format", "user"],
    "rerank": ["model", "query", "documents", "top_n", "return_documents"],
    "moderations": ["model", "input"],
    "images.generations": ["model", "prompt", "n", "size", "response_format", "quality"],
    "audio.speech": ["model", "input", "voice", "response_format", "speed"],
}
MODELS = st.sampled_from(["fakeai/gpt-fake", "gpt-fake", "nope/none", "", "fakeai/"]) | json_values
_HI = [{"role": "user", "content": "hi"}]
VALID: dict[str, dict[str, Any]] = {
    "chat.completions": {"model": "fakeai/gpt-fake", "messages": _HI},
    "messages": {"model": "fakeai/gpt-fake", "max_tokens": 16, "messages": _HI},
    "responses": {"model": "fakeai/gpt-fake", "input": "hi"},
    "completions": {"model": "fakeai/gpt-fake", "prompt": "hi"},
    "embeddings": {"model": "fakeai/gpt-fake", "input": "hi"},
    "moderations": {"model": "fakeai/gpt-fake", "input": ["hi", {"type": "text", "text": "there"}]},
    "rerank": {"model": "compat/gpt-fake", "query": "hi", "documents": ["hi there", {"text": "bye"}]},
    "images.generations": {"model": "fakeai/gpt-fake", "prompt": "a cat"},
    "audio.speech": {"model": "fakeai/gpt-fake", "input": "hi", "voice": "alloy"},
}
"""A body each endpoint accepts; most fuzzed bodies are one of these with a few fields changed."""
_plausible = (
    st.booleans()
    | st.integers(min_value=-5, max_value=200_000)
    | st.floats(min_value=-1, max_value=3)
    | st.text(max_size=12)
    | st.lists(_message, max_size=3)
    | st.lists(st.fixed_dictionaries({"type": st.sampled_from(["function", "web_search", "x"])}), max_size=2)
)


@st.composite
def inbound_body(draw: st.DrawFn, endpoint: str) -> bytes:
    """Bytes for one request to `endpoint`: mostly a valid body with a few fields changed or dropped,
    sometimes any JSON or any bytes at all."""
    kind = draw(st.sampled_from(["mutated", "mutated", "mutated", "mutated", "json", "bytes"]))
    if kind == "bytes":
        return draw(st.binary(max_size=200))
    if kind == "json":
        return json.dumps(draw(json_values)).encode()
    doc = dict(VALID[endpoint])
    for name in draw(st.lists(st.sampled_from(FIELDS[endpoint]), max_size=3, unique=True)):
        if draw(st.integers(0, 5)) == 0:
            doc.pop(name, None)
        else:
            doc[name] = draw(_plausible | json_values | MODELS)
    if draw(st.integers(0, 4)) == 0:
        doc[draw(st.text(max_size=8))] = draw(json_values)  # an unknown field
    return json.dumps(doc).encode()


@st.composite
def multipart_body(draw: st.DrawFn) -> tuple[bytes, str]:
    """A multipart upload (sometimes broken) and the content type naming its boundary."""
    boundary = draw(st.sampled_from(["b0undary", "x", "----a"]))
    parts = []
    names = ["model", "file", "response_format", "language", "x", "image", "image[]", "prompt", "stream"]
    for name in draw(st.lists(st.sampled_from(names), max_size=5)):
        value = draw(st.binary(max_size=40))
        upload = name in ("file", "image", "image[]")
        disposition = f'form-data; name="{name}"' + ('; filename="a.bin"' if upload else "")
        head = b"--%s\r\nContent-Disposition: %s\r\n\r\n" % (boundary.encode(), disposition.encode())
        parts.append(head + value + b"\r\n")
    body = b"".join(parts) + (b"--%s--\r\n" % boundary.encode() if draw(st.booleans()) else b"")
    if draw(st.booleans()):
        body = draw(st.binary(max_size=120))
    content_type = draw(st.sampled_from([f"multipart/form-data; boundary={boundary}", "multipart/form-data", ""]))
    return body, content_type
