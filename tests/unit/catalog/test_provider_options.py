"""A provider's settings without a column of their own survive the row; a batch's price share by kind."""

from __future__ import annotations

from cryptography.fernet import Fernet

from app.catalog.apply import provider_values
from app.catalog.secrets import SecretBox
from app.catalog.specs import ProviderSpec
from app.catalog.store import _provider_entry
from app.gateway.snapshot import ProviderEntry

BOX = SecretBox(Fernet.generate_key())


def _entry(**fields: object) -> ProviderEntry:
    spec = ProviderSpec(name="p", base_url="https://example.com/v1", **fields)  # type: ignore[arg-type]
    return _provider_entry({"id": "prov_1", "api_key_enc": None, **provider_values(spec, BOX)}, BOX)


def test_batch_cost_factor_defaults_to_the_kinds_batch_price() -> None:
    assert _entry(kind="openai").batch_cost_factor == 0.5
    assert _entry(kind="anthropic").batch_cost_factor == 0.5
    assert _entry(kind="openai-compatible").batch_cost_factor == 1.0
    assert _entry(kind="openai", batch_cost_factor=0.3).batch_cost_factor == 0.3
    assert _entry(kind="anthropic", batch_cost_factor=1.0).batch_cost_factor == 1.0


def test_other_options_keep_their_values() -> None:
    entry = _entry(kind="openai-compatible", quirks="vllm", max_concurrent=3, probe_interval_s=0.0)
    assert (entry.quirks, entry.max_concurrent, entry.probe_interval_s) == ("vllm", 3, 0.0)
