"""Which breaker changes a worker raises as provider alerts: an outage that lasts, and its end."""

from __future__ import annotations

from app.alerts.outages import OutageWatch
from strategies.base import HealthSnapshot

OPEN = HealthSnapshot(breaker="open", consecutive_failures=3, error_rate=1.0)
HALF = HealthSnapshot(breaker="half-open", consecutive_failures=3, error_rate=1.0)
CLOSED = HealthSnapshot()


def test_an_outage_that_lasts_raises_down_once_then_up_when_it_ends() -> None:
    watch = OutageWatch(after_s=60)
    assert watch.observe({"p/m": OPEN, "p/ok": CLOSED}, 1000.0) == []
    assert watch.observe({"p/m": HALF}, 1030.0) == [], "half-open is still down, and not yet long enough"
    [down] = watch.observe({"p/m": OPEN}, 1061.0)
    assert (down.kind, down.target, down.since) == ("provider.down", "p/m", 1000.0)
    assert down.dedup == "provider.down:p/m:1970010100"
    payload = down.payload("alert_1", 1061.0)
    assert (payload["provider"], payload["model"], payload["consecutive_failures"]) == ("p", "m", 3)
    assert "open for 61 s" in payload["message"]
    assert watch.observe({"p/m": OPEN}, 1200.0) == [], "raised once per outage"
    [up] = watch.observe({"p/m": CLOSED}, 1300.0)
    assert (up.kind, up.since) == ("provider.up", 1000.0) and "answers again after 300 s" in up.message(1300.0)
    assert watch.observe({"p/m": CLOSED}, 1400.0) == []


def test_a_blip_shorter_than_the_wait_raises_nothing() -> None:
    watch = OutageWatch(after_s=60)
    assert watch.observe({"p/m": OPEN}, 1000.0) == []
    assert watch.observe({"p/m": CLOSED}, 1020.0) == [], "closed before it counted: no down, so no up"
    assert watch.observe({"p/m": OPEN}, 1100.0) == [], "a new outage starts its own clock"
    assert [a.since for a in watch.observe({"p/m": OPEN}, 1161.0)] == [1100.0]
