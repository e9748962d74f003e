"""Pure pieces of the UI support code: session tokens, redirects, throttling, messages, chart scales.

(Kept next to the UI's server tests; they need no server.)
"""

from __future__ import annotations

import time

import jwt
import pytest

from app.ui_support.charts import line_chart, nice_max
from app.ui_support.forms import plain_message, rows
from app.ui_support.render import safe_next
from app.ui_support.session import ADMIN_KEY_SUBJECT, SessionCodec
from app.ui_support.templating import money
from app.ui_support.throttle import LoginThrottle

KEY = b"k" * 32


def test_session_tokens_reject_tampering_expiry_and_foreign_tokens() -> None:
    codec = SessionCodec(KEY, ttl_s=3600, admin_key="admin-key-one-0123456789")
    token = codec.issue("user_1", now=1000)
    claims = codec.claims(token)
    assert claims is None, "issued long ago: expired"
    fresh = codec.issue("user_1")
    assert codec.claims(fresh) is not None
    assert codec.claims(fresh[:-2] + "xx") is None
    assert SessionCodec(b"x" * 32, 3600, None).claims(fresh) is None, "another signing key"
    api_style = jwt.encode({"sub": "user_1", "exp": 2**40, "csrf": "c"}, KEY, algorithm="HS256")
    assert codec.claims(api_style) is None, "a token without the UI audience is not a session"


def test_admin_key_sessions_end_when_the_admin_key_changes() -> None:
    before = SessionCodec(KEY, 3600, "admin-key-one-0123456789")
    token = before.issue(ADMIN_KEY_SUBJECT)
    assert before.claims(token) is not None
    assert SessionCodec(KEY, 3600, "admin-key-two-0123456789").claims(token) is None
    assert SessionCodec(KEY, 3600, None).claims(token) is None
    assert before.admin_key_matches("admin-key-one-0123456789")
    assert not before.admin_key_matches("admin-key-one-012345678") and not before.admin_key_matches("")


async def test_sliding_refresh_keeps_the_csrf_token() -> None:
    codec = SessionCodec(KEY, 3600, "admin-key-one-0123456789")
    token = codec.issue(ADMIN_KEY_SUBJECT, csrf="same-token", now=time.time() - 2000)
    assert (await codec.viewer(codec.issue(ADMIN_KEY_SUBJECT))).refresh is None  # type: ignore[union-attr]
    viewer = await codec.viewer(token)
    assert viewer is not None and viewer.is_admin and viewer.refresh is not None, "past half its life: re-issued"
    refreshed = await codec.viewer(viewer.refresh)
    assert refreshed is not None and refreshed.csrf == "same-token" and refreshed.refresh is None


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/ui/keys?plan=free", "/ui/keys?plan=free"),
        ("//evil.example/ui", "/ui/"),
        ("https://evil.example/ui", "/ui/"),
        ("/ui/../v1/configs", "/ui/"),
        ("/ui\\evil", "/ui/"),
        (None, "/ui/"),
    ],
)
def test_redirect_targets_stay_inside_the_ui(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_login_throttle_counts_failures_per_address_in_a_window() -> None:
    now = [0.0]
    throttle = LoginThrottle(limit=3, window_s=60, clock=lambda: now[0])
    for _ in range(3):
        assert throttle.retry_after("1.2.3.4") == 0
        throttle.failed("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 60
    assert throttle.retry_after("5.6.7.8") == 0
    now[0] = 61
    assert throttle.retry_after("1.2.3.4") == 0
    throttle.failed("1.2.3.4")
    throttle.succeeded("1.2.3.4")
    assert throttle.retry_after("1.2.3.4") == 0


def test_service_messages_in_plain_words() -> None:
    assert plain_message("base_url", "Expected `str` matching regex '^x$'") == "must be an http:// or https:// URL"
    assert plain_message("params.retries", "Expected `int` <= 10") == "must be at most 10"
    assert plain_message("models[0].id", "Expected `str` of length >= 1") == "is required"
    assert plain_message("x", "something else") == "something else"


def test_repeated_rows_keep_form_order() -> None:
    form = [("models.b.id", "second"), ("models.a.id", "first"), ("models.b.vision", "on"), ("other", "x")]
    assert rows(form, "models") == [{"id": "second", "vision": "on"}, {"id": "first"}]


def test_chart_scales_and_gaps() -> None:
    assert [nice_max(v) for v in (0, 0.3, 7, 12, 240, 999)] == [1.0, 0.5, 10.0, 20.0, 250.0, 1000.0]
    from datetime import UTC, datetime, timedelta

    times = [datetime(2026, 1, 1, tzinfo=UTC) + timedelta(hours=h) for h in range(4)]
    chart = line_chart("Latency", times, {"p50": [None, 5.0, None, None]}, str)
    assert chart.lines[0].path.startswith("M") and len(chart.lines[0].dots) == 1, "a lone point is drawn as a dot"
    assert not chart.empty and len(chart.buckets) == 4
    assert line_chart("Nothing", times, {"n": [0.0] * 4}, str).empty
    clean = line_chart("Error rate", times, {"errors": [None, 0.0, 0.0, None]}, str, zero_is_data=True)
    assert not clean.empty and clean.lines[0].path.count("L") == 1, "traffic without errors is a 0% line"
    assert line_chart("Error rate", times, {"errors": [None] * 4}, str, zero_is_data=True).empty, "no traffic"


@pytest.mark.parametrize(
    ("value", "shown"),
    [(None, "—"), (0, "$0"), (0.000036, "$0.000036"), (0.00012, "$0.00012"), (0.004, "$0.0040"), (12.5, "$12.50")],
)
def test_money_keeps_two_significant_digits_of_a_cheap_request(value: float | None, shown: str) -> None:
    assert money(value) == shown
