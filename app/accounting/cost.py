"""Cost of a request from the model's prices and the usage: tokens (cached, reasoning), images, audio."""

from __future__ import annotations

from app.accounting.events import Usage
from app.catalog.specs import ModelSpec

__all__ = ["cost_usd"]


def cost_usd(model: ModelSpec, usage: Usage) -> float:
    """Reasoning tokens are billed as output (they are part of completion_tokens)."""
    cached = min(usage.cached_tokens, usage.prompt_tokens)
    cached_price = (
        model.cached_input_cost_per_mtok if model.cached_input_cost_per_mtok is not None else model.input_cost_per_mtok
    )
    prompt = (usage.prompt_tokens - cached) * model.input_cost_per_mtok + cached * cached_price
    output = usage.completion_tokens * model.output_cost_per_mtok
    # Audio tokens are within the counts above, at the text price: the difference makes them audio priced.
    # `audio_prompt_tokens` are the uncached ones (cached audio is billed at the cached price, as text is).
    audio_in = min(usage.audio_prompt_tokens, usage.prompt_tokens - cached)
    if audio_in and model.audio_input_cost_per_mtok is not None:
        prompt += audio_in * (model.audio_input_cost_per_mtok - model.input_cost_per_mtok)
    audio_out = min(usage.audio_completion_tokens, usage.completion_tokens)
    if audio_out and model.audio_output_cost_per_mtok is not None:
        output += audio_out * (model.audio_output_cost_per_mtok - model.output_cost_per_mtok)
    per_unit = (model.cost_per_image or 0.0) * usage.images
    per_unit += (model.cost_per_1k_chars or 0.0) * usage.characters / 1000
    per_unit += (model.cost_per_minute or 0.0) * usage.audio_seconds / 60
    if not (usage.total_tokens or usage.images or usage.characters or usage.audio_seconds):
        per_unit += model.cost_per_request or 0.0
    return (prompt + output) / 1e6 + per_unit
