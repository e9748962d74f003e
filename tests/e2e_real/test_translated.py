"""Other dialects translated onto a real llama-server: the Anthropic SDK's Messages and openai's Responses."""

from __future__ import annotations

import pytest

from tests.e2e_real.conftest import LLAMA_MODEL
from tests.gateway_process import GatewayProcess

pytestmark = pytest.mark.real_upstream

TIMEOUT_S = 60.0
SYSTEM = "You are a helpful assistant. Answer in one short sentence."
QUESTION = "What is the capital of France?"
GREEDY = {"temperature": 0}
"""Anthropic SDK 2.x has no `temperature` argument; the wire field still exists."""
RESPONSES_STREAM_EVENTS = (
    "response.output_item.added",
    "response.content_part.added",
    "response.output_text.delta",
    "response.output_text.done",
    "response.content_part.done",
    "response.output_item.done",
)


def test_anthropic_messages_create(real_gateway: GatewayProcess) -> None:
    message = real_gateway.anthropic(timeout=TIMEOUT_S).messages.create(
        model=LLAMA_MODEL,
        max_tokens=48,
        system=SYSTEM,
        extra_body=GREEDY,
        messages=[{"role": "user", "content": QUESTION}],
    )
    assert message.id and message.type == "message" and message.role == "assistant"
    assert message.model == LLAMA_MODEL
    assert [block.type for block in message.content] == ["text"]
    assert message.content[0].text.strip()
    assert message.stop_reason in {"end_turn", "max_tokens"}
    assert message.usage.input_tokens > 0 and message.usage.output_tokens > 0


def test_anthropic_messages_stream(real_gateway: GatewayProcess) -> None:
    with real_gateway.anthropic(timeout=TIMEOUT_S).messages.stream(
        model=LLAMA_MODEL,
        max_tokens=48,
        system=SYSTEM,
        extra_body=GREEDY,
        messages=[{"role": "user", "content": QUESTION}],
    ) as stream:
        events = [event.type for event in stream]
        final = stream.get_final_message()
    assert events[0] == "message_start" and events[-1] == "message_stop"
    start, stop = events.index("content_block_start"), events.index("content_block_stop")
    assert start < events.index("content_block_delta") < stop < events.index("message_delta")
    assert final.role == "assistant" and final.model == LLAMA_MODEL
    assert final.content[0].type == "text" and final.content[0].text.strip()
    assert final.stop_reason in {"end_turn", "max_tokens"}
    assert final.usage.output_tokens > 0


def test_responses_create(real_gateway: GatewayProcess) -> None:
    response = real_gateway.openai(timeout=TIMEOUT_S).responses.create(
        model=LLAMA_MODEL, instructions=SYSTEM, input=QUESTION, temperature=0, max_output_tokens=200
    )
    assert response.id and response.object == "response"
    assert response.status == "completed"
    assert response.model == LLAMA_MODEL
    assert response.output_text.strip()
    message = response.output[-1]
    assert message.type == "message" and message.role == "assistant"
    assert response.usage is not None
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_responses_stream(real_gateway: GatewayProcess) -> None:
    client = real_gateway.openai(timeout=TIMEOUT_S)
    with client.responses.stream(
        model=LLAMA_MODEL,
        instructions=SYSTEM,
        input=[{"role": "user", "content": QUESTION}],
        temperature=0,
        max_output_tokens=200,
    ) as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [e.type for e in events]
    assert types[0] == "response.created" and types[-1] == "response.completed"
    for needed in RESPONSES_STREAM_EVENTS:
        assert needed in types, types
    assert types.index("response.output_item.added") < types.index("response.output_text.delta")
    assert types.index("response.output_text.done") < types.index("response.output_item.done")
    numbers = [e.sequence_number for e in events]
    assert numbers == sorted(numbers) and len(set(numbers)) == len(numbers)
    assert final.status == "completed"
    assert final.output_text.strip()
    assert "".join(e.delta for e in events if e.type == "response.output_text.delta") == final.output_text
    assert final.usage is not None and final.usage.output_tokens > 0
