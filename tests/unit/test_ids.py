"""Request, trace and span ids: well-formed, unique, and different in a forked worker."""

from __future__ import annotations

import os
import re

import pytest

from app import ids
from app.accounting.events import event_id
from app.gateway.tracing import trace_from_header


def test_ids_have_the_documented_shapes() -> None:
    assert re.fullmatch(r"[0-9a-f]{16}", ids.hex_id(64))
    assert re.fullmatch(r"[0-9a-f]{32}", ids.hex_id(128))
    made = ids.request_id()
    assert re.fullmatch(r"req_[0-9a-f]{24}", made)
    assert event_id(made) == (made, None)  # the usage row takes a gateway-made id as its own


def test_a_started_trace_is_valid_w3c_and_its_spans_are_new() -> None:
    trace = trace_from_header(None)
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-01", trace.traceparent)
    child = trace.child()
    assert child.trace_id == trace.trace_id and child.parent_span_id == trace.span_id
    assert child.span_id != trace.span_id


def test_ids_do_not_repeat() -> None:
    made = {ids.request_id() for _ in range(200_000)}
    assert len(made) == 200_000


def test_all_zero_draws_are_never_returned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "getrandbits", lambda bits: 0)
    assert ids.hex_id(128) == "0" * 31 + "1"  # an all-zero trace or span id is invalid in W3C trace context


def test_small_draws_keep_their_leading_zeros(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ids, "getrandbits", lambda bits: 0xABC)
    assert ids.hex_id(64) == "0000000000000abc"
    assert ids.request_id() == "req_" + "0" * 21 + "abc"
    monkeypatch.setattr(ids, "getrandbits", lambda bits: (1 << bits) - 1)
    assert ids.hex_id(128) == "f" * 32


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_worker_draws_other_ids_than_its_parent() -> None:
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report the ids it makes next, then leave without running pytest's exit
        os.write(write, " ".join(ids.hex_id(128) for _ in range(5)).encode())
        os._exit(0)
    os.close(write)
    parent = [ids.hex_id(128) for _ in range(5)]
    os.waitpid(pid, 0)
    with os.fdopen(read) as pipe:
        child = pipe.read().split()
    assert len(child) == 5
    assert not set(child) & set(parent)
