"""Settings from the environment: the upstream pool's limits (parsed, defaulted, refused when wrong)."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.settings import load_settings


def env(tmp_path: Path, **extra: str) -> dict[str, str]:
    return {"POLYROUTE_DATA_DIR": str(tmp_path), **extra}


def test_the_upstream_pool_limits_default_to_a_minute_and_a_hundred(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path))
    assert (settings.upstream_keepalive_s, settings.upstream_max_idle) == (60.0, 100)


def test_the_upstream_pool_limits_come_from_the_environment(tmp_path: Path) -> None:
    settings = load_settings(env(tmp_path, POLYROUTE_UPSTREAM_KEEPALIVE_S="15", POLYROUTE_UPSTREAM_MAX_IDLE="8"))
    assert (settings.upstream_keepalive_s, settings.upstream_max_idle) == (15.0, 8)


@pytest.mark.parametrize(
    ("var", "value", "says"),
    [
        ("POLYROUTE_UPSTREAM_MAX_IDLE", "-1", "must be >= 0"),
        ("POLYROUTE_UPSTREAM_KEEPALIVE_S", "-0.5", "must be >= 0"),
        ("POLYROUTE_UPSTREAM_MAX_IDLE", "lots", "is not a valid int"),
    ],
)
def test_wrong_upstream_pool_limits_are_refused_with_the_variable_named(
    tmp_path: Path, var: str, value: str, says: str
) -> None:
    with pytest.raises(ValueError, match=says) as refused:
        load_settings(env(tmp_path, **{var: value}))
    assert var in str(refused.value)


def test_audit_and_alert_retention_default_to_forever_and_a_year(tmp_path: Path) -> None:
    assert (load_settings(env(tmp_path)).audit_retention_days, load_settings(env(tmp_path)).alert_retention_days) == (
        0,
        365,
    )
    with pytest.raises(ValueError, match="POLYROUTE_AUDIT_RETENTION_DAYS"):
        load_settings(env(tmp_path, POLYROUTE_AUDIT_RETENTION_DAYS="-1"))


@pytest.mark.parametrize(
    ("var", "value"),
    [
        ("POLYROUTE_PAYLOAD_LOG", "sometimes"),
        ("POLYROUTE_PAYLOAD_LOG_MAX_BYTES", "0"),
        ("POLYROUTE_PAYLOAD_RETENTION_DAYS", "-1"),
    ],
)
def test_payload_log_settings_are_checked_and_off_by_default(tmp_path: Path, var: str, value: str) -> None:
    settings = load_settings(env(tmp_path))
    assert (settings.payload_log, settings.payload_log_max_bytes, settings.payload_retention_days) == ("off", 65536, 30)
    with pytest.raises(ValueError, match=var):
        load_settings(env(tmp_path, **{var: value}))
    assert load_settings(env(tmp_path, POLYROUTE_PAYLOAD_LOG="errors")).payload_log == "errors"
