"""The UTC windows a moment falls in, at the boundaries where a cached calendar could go wrong."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.limits.admit import Windows


def _ts(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> float:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC).timestamp()


@pytest.mark.parametrize(
    ("now", "day", "day_left", "month", "month_left"),
    [
        (_ts(2026, 11, 22, 8, 0), "20261122", 16 * 3600, "202611", _ts(2026, 12, 1) - _ts(2026, 11, 22, 8)),
        (_ts(2026, 12, 31, 23, 59, 59), "20261231", 1, "202612", 1),  # the year rolls over
        (_ts(2027, 1, 1), "20270101", 86400, "202701", 31 * 86400),
        (_ts(2028, 2, 29, 12), "20280229", 12 * 3600, "202802", 12 * 3600),  # leap day ends February
        (_ts(2027, 2, 28, 12), "20270228", 12 * 3600, "202702", 12 * 3600),
    ],
)
def test_day_and_month_windows(now: float, day: str, day_left: float, month: str, month_left: float) -> None:
    w = Windows.at(now)
    assert (w.day, w.month) == (day, month)
    assert w.day_left == pytest.approx(day_left)
    assert w.month_left == pytest.approx(month_left)


def test_a_later_moment_of_the_same_day_counts_down() -> None:
    morning, evening = Windows.at(_ts(2026, 11, 22, 6)), Windows.at(_ts(2026, 11, 22, 18, 0, 30))
    assert morning.day == evening.day
    assert morning.day_left - evening.day_left == pytest.approx(12 * 3600 + 30)
    assert evening.minute_left == pytest.approx(30)
