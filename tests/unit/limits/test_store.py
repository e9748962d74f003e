"""Choosing the counter backend: auto picks Redis, then Postgres, then in-process; bad pairings fail at start."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.limits.memory import MemoryCounters
from app.limits.postgres import PostgresCounters
from app.limits.redis import RedisCounters
from app.limits.store import backend_name, counter_backend
from app.settings import Settings, load_settings

PG = "postgresql://u@db/polyroute"


@pytest.mark.parametrize(
    ("fields", "expected", "kind"),
    [
        ({}, "memory", MemoryCounters),
        ({"database_url": PG}, "postgres", PostgresCounters),
        ({"database_url": PG, "redis_url": "redis://r:6379/0"}, "redis", RedisCounters),
        ({"redis_url": "redis://r:6379/0"}, "redis", RedisCounters),
        ({"database_url": PG, "limits_backend": "memory"}, "memory", MemoryCounters),
        ({"database_url": PG, "redis_url": "redis://r", "limits_backend": "postgres"}, "postgres", PostgresCounters),
    ],
)
async def test_auto_and_explicit_choices(fields: dict[str, str], expected: str, kind: type) -> None:
    settings = Settings(**fields)  # type: ignore[arg-type]
    assert backend_name(settings) == expected
    backend = counter_backend(settings)  # connects lazily: nothing is reached here
    assert isinstance(backend, kind)
    await backend.close()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"POLYROUTE_LIMITS_BACKEND": "redis"}, "needs POLYROUTE_REDIS_URL"),
        ({"POLYROUTE_LIMITS_BACKEND": "postgres"}, "needs a postgresql://"),
        ({"POLYROUTE_USAGE_RETENTION_DAYS": "-1"}, "RETENTION_DAYS must be >= 0"),
        ({"POLYROUTE_LIMITS_TIMEOUT_S": "0"}, "LIMITS_TIMEOUT_S > 0"),
    ],
)
def test_impossible_settings_fail_at_start(tmp_path: Path, env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        load_settings(env, data_dir=str(tmp_path))


def test_unknown_backend_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="POLYROUTE_LIMITS_BACKEND: Invalid enum value 'etcd'"):
        load_settings({"POLYROUTE_LIMITS_BACKEND": "etcd"}, data_dir=str(tmp_path))
    settings = load_settings({"POLYROUTE_USAGE_RETENTION_DAYS": "7"}, data_dir=str(tmp_path))
    assert (settings.usage_retention_days, settings.limits_backend) == (7, "auto")
