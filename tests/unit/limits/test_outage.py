"""OutageGate: a failure opens the gate for a cool-down, so a dead store costs requests nothing."""

from __future__ import annotations

import pytest

from app.limits.base import CounterStoreUnavailableError
from app.limits.outage import OutageGate


class Clock:
    now = 100.0

    def __call__(self) -> float:
        return self.now


async def test_fails_fast_during_the_cooldown_then_tries_again() -> None:
    clock = Clock()
    gate = OutageGate("store", (OSError,), cooldown_s=1.0, clock=clock)
    calls = 0

    async def call() -> int:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise ConnectionRefusedError("refused")
        return calls

    with pytest.raises(CounterStoreUnavailableError):
        await gate.run(call)
    assert gate.down
    clock.now += 0.5
    with pytest.raises(CounterStoreUnavailableError, match="retrying shortly"):
        await gate.run(call)
    assert calls == 1  # the store was not asked during the cool-down
    clock.now += 0.6
    assert await gate.run(call) == 2
    assert not gate.down


async def test_other_errors_pass_through() -> None:
    gate = OutageGate("store", (OSError,))

    async def call() -> None:
        raise ValueError("a bug, not an outage")

    with pytest.raises(ValueError, match="a bug"):
        await gate.run(call)
    assert not gate.down
