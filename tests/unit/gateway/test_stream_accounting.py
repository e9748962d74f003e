"""A stream's usage event waits until its last byte is written, as a whole answer's does.

Accounting (usage event, cost, health, limiter settling) ran between the upstream's [DONE] and the
stream's final empty body, so every caller's stream ended ~0.1-0.2 ms later than it needed to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from types import SimpleNamespace

import msgspec

from app.accounting.queue import UsageQueue
from app.api.inference.chat import parse_chat
from app.catalog.specs import Limits, ModelSpec, TargetSpec
from app.conversations.store import ResponseStore
from app.gateway.call import Call
from app.gateway.pipeline import Gateway
from app.gateway.snapshot import CatalogSnapshot, KeyRecord, ResolvedModel
from app.gateway.tracing import trace_from_header
from app.gateway.upstream import UpstreamPool
from app.health.scores import HealthRegistry
from app.limits.admit import Limiter
from app.limits.memory import MemoryCounters
from tests.entries import provider_entry

DEMO = provider_entry(
    id="cfg-demo", name="demo", kind="demo", base_url="inproc://demo", models={"echo": ModelSpec(id="echo")}
)
KEY = KeyRecord("key_1", "k", "sk-poly-abcd", None, None, Limits(), None)


def _gateway(usage: UsageQueue) -> Gateway:
    models = {"demo/echo": ResolvedModel("demo/echo", None, (TargetSpec("demo", "echo"),))}
    snapshot = CatalogSnapshot(1, {"demo": DEMO}, {}, {}, {}, {}, models)
    return Gateway(
        catalog=SimpleNamespace(snapshot=snapshot),
        pool=UpstreamPool(),
        health=HealthRegistry(),
        limiter=Limiter(MemoryCounters()),
        usage=usage,
        responses=ResponseStore(),
    )


def _call(after: list[Callable[[], object]] | None) -> Call:
    body = {"model": "demo/echo", "messages": [{"role": "user", "content": "one two"}], "stream": True}
    raw = msgspec.json.encode(body)
    trace = trace_from_header(None)
    received = time.perf_counter()
    return Call("chat.completions", "openai", {}, raw, parse_chat, trace, "req_1", received, key=KEY, after=after)


async def test_the_usage_event_of_a_stream_is_left_for_after_its_last_byte() -> None:
    usage = UsageQueue()
    after: list[Callable[[], object]] = []
    reply = await _gateway(usage).handle(_call(after))
    assert reply.stream is not None
    pieces = [piece async for piece in reply.stream]  # what the endpoint writes, to the end
    assert pieces[-1].endswith(b"data: [DONE]\n\n")
    assert usage.total_put == 0 and len(after) == 1  # not accounted yet: left for the endpoint
    for work in after:  # the endpoint runs these once the final empty body is sent
        work()
    [event] = usage.take(10)
    assert (event.status, event.provider, event.model, event.stream) == (200, "demo", "echo", True)
    assert event.usage.completion_tokens > 0


async def test_an_in_process_caller_gets_the_stream_accounted_when_it_ends() -> None:
    usage = UsageQueue()
    reply = await _gateway(usage).handle(_call(None))  # no endpoint to leave work to
    assert reply.stream is not None
    async for _ in reply.stream:
        pass
    assert usage.total_put == 1
