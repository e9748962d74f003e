"""Pick the counter backend from the settings: memory, Redis or Postgres."""

from __future__ import annotations

from app.limits.base import CounterBackend
from app.limits.memory import MemoryCounters
from app.settings import Settings

__all__ = ["backend_name", "counter_backend"]


def backend_name(settings: Settings) -> str:
    """`auto` is Redis when a Redis URL is set, else Postgres when the database is, else memory."""
    choice = settings.limits_backend
    if choice == "auto":
        if settings.redis_url:
            return "redis"
        return "memory" if settings.is_sqlite else "postgres"
    if choice == "redis" and not settings.redis_url:
        raise ValueError("POLYROUTE_LIMITS_BACKEND=redis needs POLYROUTE_REDIS_URL")
    if choice == "postgres" and settings.is_sqlite:
        raise ValueError("POLYROUTE_LIMITS_BACKEND=postgres needs a postgresql:// POLYROUTE_DATABASE_URL")
    return choice


def counter_backend(settings: Settings) -> CounterBackend:
    """The backend; remote ones connect lazily, on the first request, inside the serving loop."""
    name = backend_name(settings)
    if name == "redis":
        from app.limits.redis import RedisCounters

        assert settings.redis_url is not None
        return RedisCounters(settings.redis_url, timeout_s=settings.limits_timeout_s)
    if name == "postgres":
        from app.limits.postgres import PostgresCounters

        return PostgresCounters(settings.database_url, timeout_s=settings.limits_timeout_s)
    return MemoryCounters()
