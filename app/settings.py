"""Process settings: one frozen struct, read from the environment once, at start-up."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

import msgspec

__all__ = ["SETTINGS_ENV", "Settings", "load_settings"]

DEFAULT_MAX_BODY_BYTES = 20 * 1024 * 1024


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    """Everything the process needs to know; tests build it directly."""

    database_url: str = "sqlite:///./polyroute.db"
    """`sqlite:///path` (embedded) or `postgresql://...` (production)."""
    redis_url: str | None = None
    """Shared counters and change notifications across replicas; in-process when unset."""
    admin_key: str | None = None
    """Bearer token for the management API."""
    secret_key: str | None = None
    """Fernet key that encrypts provider credentials; generated into `data_dir` when unset."""
    data_dir: str = "."
    """Where the generated secret key and the usage spool live."""
    config_path: str | None = None
    """Declarative bootstrap file applied at start-up."""
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    server: Literal["uvicorn", "granian"] = "uvicorn"
    """The HTTP server: uvicorn (uvloop + httptools) or granian. Measured side by side (README,
    "Performance"), uvicorn adds less latency and CPU per request at moderate rates and holds less
    memory, for the same peak throughput."""
    loop: Literal["auto", "asyncio", "uvloop"] = "auto"
    """The event loop. auto: asyncio under uvicorn (with uvloop, uvicorn let a few requests wait over a
    second once 200 connections overloaded one worker; with asyncio the tail stayed under 0.2 s at
    the same speed), uvloop under granian (its sockets are served from Rust threads)."""
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    """Inference request bodies above this are refused with 413 before being read whole."""
    drain_timeout_s: float = 30.0
    """On SIGTERM, how long in-flight requests and streams may take to finish."""
    catalog_poll_s: float = 1.0
    """How often a replica checks the catalog version when no notification channel exists."""
    usage_flush_interval_s: float = 1.0
    usage_batch_size: int = 500
    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = "auto"
    """`auto`: text lines when stderr is a terminal (./scripts/run by hand), JSON lines otherwise."""
    access_log: bool = True
    """One `polyroute.access` line per inference request (method, path, status, latency, ids, provider, model)."""
    metrics_token: str | None = None
    """When set, GET /metrics needs it as a Bearer token; unauthenticated otherwise."""
    jwt_ttl_s: int = 3600
    limits_fail_closed: bool = False
    """Counter store (Redis, Postgres) unreachable: refuse with 503 (True) or admit with a warning (False)."""
    limits_backend: Literal["auto", "memory", "redis", "postgres"] = "auto"
    """Where rate-limit counters live. auto: Redis when `redis_url` is set, else Postgres when the
    database is Postgres (one transaction per request), else in-process (exact for one process only)."""
    limits_timeout_s: float = 1.0
    """How long a request may wait on the counter store before the fail-open/closed policy applies."""
    usage_retention_days: int = 90
    """Raw request-log rows older than this are deleted (rollups are kept); 0 keeps them forever."""
    usage_retention_interval_s: float = 3600.0
    """How often the retention job runs."""
    audit_retention_days: int = 0
    """Audit-log rows older than this are deleted; 0 (the default) keeps them forever."""
    alert_retention_days: int = 365
    """Alert rows older than this are deleted; 0 keeps them forever."""
    payload_log: Literal["off", "errors", "all"] = "off"
    """Keep requests' and answers' bodies beside the request log: for every request, for failed ones only,
    or not at all (app.accounting.payloads)."""
    payload_log_max_bytes: int = 65536
    """At most this much of each body is kept (the rest is cut, and the row says so)."""
    payload_retention_days: int = 30
    """Kept bodies older than this are deleted (their request-log rows stay); 0 keeps them as long as the row."""
    probes_enabled: bool = True
    upstream_keepalive_s: float = 60.0
    """How long an idle upstream connection is kept for the next call to the same provider."""
    upstream_max_idle: int = 100
    """Idle upstream connections kept per provider and host; the longest idle beyond this are closed."""
    allowed_upstream_hosts: tuple[str, ...] = ()
    """SSRF guard: when non-empty, provider base URLs must point at one of these hosts."""
    task_workers: int = 4
    """Asynchronous tasks this process runs at once (0: this replica only enqueues, others run them)."""
    task_retention_s: float = 24 * 3600.0
    """How long a finished task (and its result) is kept before the cleanup job deletes it."""
    task_max_attempts: int = 3
    """Runs a task may start; one interrupted by a crash or restart is retried until this, then failed."""
    task_lease_s: float = 30.0
    """A running task's lease; the owner extends it every third of this, others reclaim it when it lapses."""
    task_poll_s: float = 1.0
    """How often an idle runner looks for queued tasks enqueued on other replicas."""
    batch_concurrency: int = 4
    """Lines of one emulated batch in flight at once (each runs as a task through the pipeline)."""
    batch_poll_s: float = 1.0
    """How often a replica looks for batches to run; lines of a running batch are checked 5x as often."""
    batch_native: bool = True
    """Pass batches whose lines all name one model of a kind `openai` provider to its own batch API."""
    batch_native_poll_s: float = 10.0
    """How often a passed-through batch is polled at the provider."""
    webhook_secret: str | None = None
    """HMAC-SHA256 key for task webhooks; derived from the secret key when unset."""
    webhook_max_attempts: int = 5
    webhook_backoff_s: float = 1.0
    """First retry delay of a failed webhook delivery; doubles per attempt (capped at 60 s)."""
    webhook_allowed_hosts: tuple[str, ...] = ()
    """SSRF guard: when non-empty, task webhook URLs must point at one of these hosts."""
    cache_backend: Literal["auto", "memory", "redis"] = "auto"
    """Where cached responses live. auto: Redis when `redis_url` is set, else in-process (per worker)."""
    cache_max_bytes: int = 64 * 1024 * 1024
    """In-process response cache: least recently used answers are evicted above this many bytes."""
    oidc_issuer: str | None = None
    """Single sign-on for the admin UI: the OpenID Connect issuer (its discovery document is read from
    `<issuer>/.well-known/openid-configuration`); unset: passwords and the admin key only."""
    oidc_client_id: str | None = None
    oidc_client_secret: str | None = None
    oidc_scopes: str = "openid email profile"
    oidc_username_claim: str = "email"
    """The ID token claim that names the account (its `username`)."""
    oidc_groups_claim: str = "groups"
    oidc_admin_groups: tuple[str, ...] = ()
    """Members of any of these groups sign in as admins; everyone else as a user."""
    oidc_default_plan: str | None = None
    """The plan of a user account made at its first sign-in; unset: only admins are let in."""
    oidc_allowed_domains: tuple[str, ...] = ()
    """When set, only usernames (emails) in these domains may sign in."""
    alert_webhook_url: str | None = None
    """Where alerts are POSTed (signed like task webhooks); unset: alerts are only recorded and logged."""
    alert_format: Literal["polyroute", "slack"] = "polyroute"
    """polyroute: the alert object; slack: `{"text": ...}` for a Slack (or Mattermost) incoming webhook."""
    alert_budget_thresholds: tuple[float, ...] = (0.5, 0.8, 1.0)
    """Shares of a key's monthly budget whose crossing raises an alert (once per key, month and share)."""
    alert_outage_after_s: float = 60.0
    """A target whose circuit breaker stays open this long raises `provider.down` (and `provider.up` once
    it closes again); 0: no provider alerts."""
    alert_key_expiry_days: float = 7.0
    """A key that expires within this many days raises `key.expiring` (once per expiry date); 0: never."""
    alert_daily_report: bool = False
    """Send yesterday's totals (`report.daily`) once a day, at `alert_daily_report_at`."""
    alert_daily_report_at: str = "00:10"
    """UTC `HH:MM` from which yesterday's report goes out (not before 00:10 is safest: the day's last
    usage batches are written by then)."""
    alert_interval_s: float = 60.0
    """How often spend is compared with budgets (0: never)."""
    hooks: tuple[str, ...] = ()
    """Request hooks run on every chat, messages and responses request (routes may add their own)."""
    hook_options: dict[str, dict[str, Any]] = msgspec.field(default_factory=dict)
    """Per hook name, its options (JSON in POLYROUTE_HOOK_OPTIONS), e.g. {"max-prompt": {"max_tokens": 8000}}."""

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


def numbers(value: str) -> tuple[float, ...]:
    """A comma-separated list of numbers (`0.5, 0.8, 1`)."""
    return tuple(float(part) for part in value.split(",") if part.strip())


def _bool(value: str) -> bool:
    return value.strip().lower() in {"1", "true", "yes", "on"}


SETTINGS_ENV = "POLYROUTE_SETTINGS_JSON"
"""How `polyroute serve` hands its settings to the server's worker processes."""

_ENV: dict[str, tuple[str, Any]] = {
    "POLYROUTE_DATABASE_URL": ("database_url", str),
    "POLYROUTE_REDIS_URL": ("redis_url", str),
    "POLYROUTE_ADMIN_KEY": ("admin_key", str),
    "POLYROUTE_SECRET_KEY": ("secret_key", str),
    "POLYROUTE_DATA_DIR": ("data_dir", str),
    "POLYROUTE_CONFIG": ("config_path", str),
    "POLYROUTE_HOST": ("host", str),
    "POLYROUTE_PORT": ("port", int),
    "POLYROUTE_WORKERS": ("workers", int),
    "POLYROUTE_SERVER": ("server", str),
    "POLYROUTE_LOOP": ("loop", str),
    "POLYROUTE_MAX_BODY_BYTES": ("max_body_bytes", int),
    "POLYROUTE_DRAIN_TIMEOUT_S": ("drain_timeout_s", float),
    "POLYROUTE_CATALOG_POLL_S": ("catalog_poll_s", float),
    "POLYROUTE_USAGE_FLUSH_INTERVAL_S": ("usage_flush_interval_s", float),
    "POLYROUTE_LOG_LEVEL": ("log_level", str),
    "POLYROUTE_LOG_FORMAT": ("log_format", str),
    "POLYROUTE_ACCESS_LOG": ("access_log", bool),
    "POLYROUTE_METRICS_TOKEN": ("metrics_token", str),
    "POLYROUTE_LIMITS_FAIL_CLOSED": ("limits_fail_closed", bool),
    "POLYROUTE_LIMITS_BACKEND": ("limits_backend", str),
    "POLYROUTE_LIMITS_TIMEOUT_S": ("limits_timeout_s", float),
    "POLYROUTE_USAGE_RETENTION_DAYS": ("usage_retention_days", int),
    "POLYROUTE_USAGE_RETENTION_INTERVAL_S": ("usage_retention_interval_s", float),
    "POLYROUTE_AUDIT_RETENTION_DAYS": ("audit_retention_days", int),
    "POLYROUTE_ALERT_RETENTION_DAYS": ("alert_retention_days", int),
    "POLYROUTE_PAYLOAD_LOG": ("payload_log", str),
    "POLYROUTE_PAYLOAD_LOG_MAX_BYTES": ("payload_log_max_bytes", int),
    "POLYROUTE_PAYLOAD_RETENTION_DAYS": ("payload_retention_days", int),
    "POLYROUTE_PROBES_ENABLED": ("probes_enabled", bool),
    "POLYROUTE_UPSTREAM_KEEPALIVE_S": ("upstream_keepalive_s", float),
    "POLYROUTE_UPSTREAM_MAX_IDLE": ("upstream_max_idle", int),
    "POLYROUTE_ALLOWED_UPSTREAM_HOSTS": ("allowed_upstream_hosts", tuple),
    "POLYROUTE_TASK_WORKERS": ("task_workers", int),
    "POLYROUTE_TASK_RETENTION_S": ("task_retention_s", float),
    "POLYROUTE_TASK_MAX_ATTEMPTS": ("task_max_attempts", int),
    "POLYROUTE_TASK_LEASE_S": ("task_lease_s", float),
    "POLYROUTE_TASK_POLL_S": ("task_poll_s", float),
    "POLYROUTE_BATCH_CONCURRENCY": ("batch_concurrency", int),
    "POLYROUTE_BATCH_POLL_S": ("batch_poll_s", float),
    "POLYROUTE_BATCH_NATIVE": ("batch_native", bool),
    "POLYROUTE_BATCH_NATIVE_POLL_S": ("batch_native_poll_s", float),
    "POLYROUTE_WEBHOOK_SECRET": ("webhook_secret", str),
    "POLYROUTE_WEBHOOK_MAX_ATTEMPTS": ("webhook_max_attempts", int),
    "POLYROUTE_WEBHOOK_BACKOFF_S": ("webhook_backoff_s", float),
    "POLYROUTE_WEBHOOK_ALLOWED_HOSTS": ("webhook_allowed_hosts", tuple),
    "POLYROUTE_CACHE_BACKEND": ("cache_backend", str),
    "POLYROUTE_CACHE_MAX_BYTES": ("cache_max_bytes", int),
    "POLYROUTE_OIDC_ISSUER": ("oidc_issuer", str),
    "POLYROUTE_OIDC_CLIENT_ID": ("oidc_client_id", str),
    "POLYROUTE_OIDC_CLIENT_SECRET": ("oidc_client_secret", str),
    "POLYROUTE_OIDC_SCOPES": ("oidc_scopes", str),
    "POLYROUTE_OIDC_USERNAME_CLAIM": ("oidc_username_claim", str),
    "POLYROUTE_OIDC_GROUPS_CLAIM": ("oidc_groups_claim", str),
    "POLYROUTE_OIDC_ADMIN_GROUPS": ("oidc_admin_groups", tuple),
    "POLYROUTE_OIDC_DEFAULT_PLAN": ("oidc_default_plan", str),
    "POLYROUTE_OIDC_ALLOWED_DOMAINS": ("oidc_allowed_domains", tuple),
    "POLYROUTE_ALERT_WEBHOOK_URL": ("alert_webhook_url", str),
    "POLYROUTE_ALERT_FORMAT": ("alert_format", str),
    "POLYROUTE_ALERT_BUDGET_THRESHOLDS": ("alert_budget_thresholds", numbers),
    "POLYROUTE_ALERT_INTERVAL_S": ("alert_interval_s", float),
    "POLYROUTE_ALERT_OUTAGE_AFTER_S": ("alert_outage_after_s", float),
    "POLYROUTE_ALERT_KEY_EXPIRY_DAYS": ("alert_key_expiry_days", float),
    "POLYROUTE_ALERT_DAILY_REPORT": ("alert_daily_report", bool),
    "POLYROUTE_ALERT_DAILY_REPORT_AT": ("alert_daily_report_at", str),
    "POLYROUTE_HOOKS": ("hooks", tuple),
    "POLYROUTE_HOOK_OPTIONS": ("hook_options", dict),
}


def load_settings(
    environ: Mapping[str, str] | None = None, config_path: str | None = None, **overrides: object
) -> Settings:
    """Environment over explicit overrides' defaults; pure apart from reading `environ`."""
    env = os.environ if environ is None else environ
    values: dict[str, object] = {}
    for var, (field, kind) in _ENV.items():
        raw = env.get(var)
        if raw is None or raw == "":
            continue
        if kind is bool:
            values[field] = _bool(raw)
        elif kind is tuple:
            values[field] = tuple(h.strip() for h in raw.split(",") if h.strip())
        elif kind is dict:
            try:
                values[field] = msgspec.json.decode(raw)
            except msgspec.DecodeError as exc:
                raise ValueError(f"{var} is not valid JSON: {exc}") from exc
        else:
            try:
                values[field] = kind(raw)
            except ValueError as exc:
                raise ValueError(f"{var}={raw!r} is not a valid {kind.__name__}") from exc
    if config_path is not None:
        values["config_path"] = config_path
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        settings = msgspec.convert(values, Settings)
    except msgspec.ValidationError as exc:  # name the variable, not the field (`$.payload_log`)
        field = str(exc).rpartition("$.")[2].rstrip("`")
        var = next((v for v, (f, _) in _ENV.items() if f == field), field)
        raise ValueError(f"{var}: {str(exc).partition(' - at ')[0]}") from exc
    _check_limits(settings)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return settings


def _check_limits(settings: Settings) -> None:
    if settings.limits_backend == "redis" and not settings.redis_url:
        raise ValueError("POLYROUTE_LIMITS_BACKEND=redis needs POLYROUTE_REDIS_URL")
    if settings.limits_backend == "postgres" and settings.is_sqlite:
        raise ValueError("POLYROUTE_LIMITS_BACKEND=postgres needs a postgresql:// POLYROUTE_DATABASE_URL")
    if settings.cache_backend == "redis" and not settings.redis_url:
        raise ValueError("POLYROUTE_CACHE_BACKEND=redis needs POLYROUTE_REDIS_URL")
    if settings.usage_retention_days < 0 or settings.limits_timeout_s <= 0:
        raise ValueError("POLYROUTE_USAGE_RETENTION_DAYS must be >= 0 and POLYROUTE_LIMITS_TIMEOUT_S > 0")
    if settings.payload_log_max_bytes < 1 or settings.payload_retention_days < 0:
        raise ValueError("POLYROUTE_PAYLOAD_LOG_MAX_BYTES must be >= 1 and POLYROUTE_PAYLOAD_RETENTION_DAYS >= 0")
    if settings.audit_retention_days < 0 or settings.alert_retention_days < 0:
        raise ValueError("POLYROUTE_AUDIT_RETENTION_DAYS and POLYROUTE_ALERT_RETENTION_DAYS must be >= 0 (0: forever)")
    if not all(0 < t <= 10 for t in settings.alert_budget_thresholds) or settings.alert_interval_s < 0:
        raise ValueError("POLYROUTE_ALERT_BUDGET_THRESHOLDS must be shares in (0, 10]; POLYROUTE_ALERT_INTERVAL_S >= 0")
    if settings.oidc_issuer and not (
        settings.oidc_client_id and settings.oidc_issuer.startswith(("http://", "https://"))
    ):
        raise ValueError("POLYROUTE_OIDC_ISSUER must be an http(s) URL, and needs POLYROUTE_OIDC_CLIENT_ID")
    if not re.fullmatch(r"([01]\d|2[0-3]):[0-5]\d", settings.alert_daily_report_at):
        raise ValueError("POLYROUTE_ALERT_DAILY_REPORT_AT must be a UTC time as HH:MM")
    if settings.alert_webhook_url and not settings.alert_webhook_url.startswith(("http://", "https://")):
        raise ValueError("POLYROUTE_ALERT_WEBHOOK_URL must be an absolute http(s) URL")
    if settings.upstream_max_idle < 0 or settings.upstream_keepalive_s < 0:
        raise ValueError("POLYROUTE_UPSTREAM_MAX_IDLE and POLYROUTE_UPSTREAM_KEEPALIVE_S must be >= 0")
