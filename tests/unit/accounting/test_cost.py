"""Cost from the model's prices: cached prompt tokens at the cached price, reasoning billed as output."""

from __future__ import annotations

import pytest

from app.accounting.cost import cost_usd
from app.accounting.events import Usage
from app.catalog.specs import ModelSpec

MODEL = ModelSpec(id="m", input_cost_per_mtok=2.0, output_cost_per_mtok=8.0, cached_input_cost_per_mtok=0.5)


def test_plain_usage() -> None:
    assert cost_usd(MODEL, Usage(prompt_tokens=1_000_000, completion_tokens=500_000)) == pytest.approx(6.0)


def test_cached_prompt_tokens_are_cheaper_and_reasoning_is_output() -> None:
    usage = Usage(prompt_tokens=1000, completion_tokens=300, cached_tokens=800, reasoning_tokens=200)
    expected = (200 * 2.0 + 800 * 0.5 + 300 * 8.0) / 1e6  # reasoning already inside completion_tokens
    assert cost_usd(MODEL, usage) == pytest.approx(expected)


def test_cached_price_defaults_to_the_input_price_and_is_capped_by_the_prompt() -> None:
    plain = ModelSpec(id="m", input_cost_per_mtok=2.0, output_cost_per_mtok=8.0)
    assert cost_usd(plain, Usage(prompt_tokens=100, cached_tokens=100)) == pytest.approx(200 / 1e6)
    assert cost_usd(MODEL, Usage(prompt_tokens=10, cached_tokens=50)) == pytest.approx(10 * 0.5 / 1e6)


def test_audio_tokens_take_the_audio_prices_and_the_text_prices_without_them() -> None:
    voice = ModelSpec(
        id="v",
        input_cost_per_mtok=4.0,
        output_cost_per_mtok=16.0,
        cached_input_cost_per_mtok=0.4,
        audio_input_cost_per_mtok=32.0,
        audio_output_cost_per_mtok=64.0,
    )
    usage = Usage(prompt_tokens=1000, cached_tokens=100, audio_prompt_tokens=600, completion_tokens=500)
    usage.audio_completion_tokens = 400
    expected = (300 * 4.0 + 600 * 32.0 + 100 * 0.4 + 100 * 16.0 + 400 * 64.0) / 1e6
    assert cost_usd(voice, usage) == pytest.approx(expected)
    text_only = ModelSpec(id="t", input_cost_per_mtok=4.0, output_cost_per_mtok=16.0)
    assert cost_usd(text_only, usage) == pytest.approx((1000 * 4.0 + 500 * 16.0) / 1e6)
    # Audio counts never exceed what they are part of (a malformed usage cannot make a call cost more).
    odd = Usage(prompt_tokens=10, audio_prompt_tokens=500, completion_tokens=5, audio_completion_tokens=50)
    assert cost_usd(voice, odd) == pytest.approx((10 * 32.0 + 5 * 64.0) / 1e6)
