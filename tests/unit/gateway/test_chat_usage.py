"""Chat Completions usage as upstreams report it, audio models' token details included."""

from __future__ import annotations

import pytest

from app.accounting.cost import cost_usd
from app.accounting.events import Usage
from app.catalog.specs import ModelSpec
from app.gateway.chat_passthrough import openai_usage


def test_audio_models_report_their_audio_tokens_and_are_priced_by_them() -> None:
    raw = {
        "prompt_tokens": 120,
        "completion_tokens": 300,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 100},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 250},
    }
    usage = openai_usage(raw)
    assert usage == Usage(
        prompt_tokens=120, completion_tokens=300, audio_prompt_tokens=100, audio_completion_tokens=250
    )
    model = ModelSpec(
        id="gpt-audio",
        input_cost_per_mtok=2.5,
        output_cost_per_mtok=10,
        audio_input_cost_per_mtok=40,
        audio_output_cost_per_mtok=80,
    )
    assert cost_usd(model, usage) == pytest.approx((20 * 2.5 + 100 * 40 + 50 * 10 + 250 * 80) / 1e6)


def test_text_models_and_odd_details_count_no_audio() -> None:
    assert openai_usage({"prompt_tokens": 3, "completion_tokens": 4}) == Usage(prompt_tokens=3, completion_tokens=4)
    odd = openai_usage({"prompt_tokens": 3, "prompt_tokens_details": {"audio_tokens": "x"}})
    assert odd == Usage(prompt_tokens=3)
    assert openai_usage("nope") is None
