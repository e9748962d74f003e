"""Piccolo tables: the durable state (catalog, keys, users, usage, tasks, stored responses)."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    Boolean,
    Date,
    Float,
    Integer,
    Text,
    Timestamptz,
    Varchar,
)
from piccolo.columns.indexes import IndexMethod
from piccolo.table import Table

__all__ = [
    "ALL_TABLES",
    "ApiKeyRow",
    "CatalogStateRow",
    "LimitCounterRow",
    "PlanRow",
    "ProviderRow",
    "RouteRow",
    "StoredResponseRow",
    "TaskRow",
    "UsageDailyRow",
    "UsageEventRow",
    "UserRow",
]


class ProviderRow(Table, tablename="provider_config"):
    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=120, unique=True)
    kind = Varchar(length=40)
    base_url = Varchar(length=500)
    api_key_enc = Text(null=True, default=None)
    api_key_hint = Varchar(length=40, null=True, default=None)
    enabled = Boolean(default=True)
    timeout_s = Float(default=60.0)
    first_token_timeout_s = Float(null=True, default=None)
    stall_timeout_s = Float(null=True, default=None)
    models = JSON(default="[]")
    headers = JSON(default="{}")
    options = JSON(default="{}")
    source = Varchar(length=10, default="api")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class RouteRow(Table, tablename="route"):
    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=200, unique=True)
    strategy = Varchar(length=80, default="priority-fallback")
    params = JSON(default="{}")
    targets = JSON(default="[]")
    enabled = Boolean(default=True)
    source = Varchar(length=10, default="api")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class PlanRow(Table, tablename="plan"):
    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=120, unique=True)
    models = JSON(default='["*"]')
    targets = JSON(default="[]")
    daily_requests = Integer(null=True, default=None)
    rpm = Integer(null=True, default=None)
    tpm = Integer(null=True, default=None)
    monthly_budget_usd = Float(null=True, default=None)
    options = JSON(default="{}")
    source = Varchar(length=10, default="api")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class ApiKeyRow(Table, tablename="api_key"):
    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=200)
    prefix = Varchar(length=24)
    key_hash = Varchar(length=64, unique=True, index=True, index_method=IndexMethod.btree)
    previous_hash = Varchar(length=64, null=True, default=None)
    previous_valid_until = Timestamptz(null=True, default=None)
    plan = Varchar(length=120, null=True, default=None)
    user_id = Varchar(length=40, null=True, default=None, index=True)
    allowed_models = JSON(null=True, default=None)
    overrides = JSON(default="{}")
    metadata = JSON(default="{}")
    expires_at = Timestamptz(null=True, default=None)
    revoked_at = Timestamptz(null=True, default=None)
    last_used_at = Timestamptz(null=True, default=None)
    source = Varchar(length=10, default="api")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class UserRow(Table, tablename="app_user"):
    id = Varchar(length=40, primary_key=True)
    username = Varchar(length=200, unique=True)
    password_hash = Text()
    role = Varchar(length=10, default="user")
    plan = Varchar(length=120, null=True, default=None)
    disabled = Boolean(default=False)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class CatalogStateRow(Table, tablename="catalog_state"):
    """One row: the catalog version every replica compares against its snapshot."""

    id = Integer(primary_key=True)
    version = Integer(default=0)
    updated_at = Timestamptz()


class UsageEventRow(Table, tablename="usage_event"):
    id = Varchar(length=40, primary_key=True)
    ts = Timestamptz(index=True)
    key_id = Varchar(length=40, null=True, default=None, index=True)
    user_id = Varchar(length=40, null=True, default=None)
    plan = Varchar(length=120, null=True, default=None)
    endpoint = Varchar(length=40)
    requested_model = Varchar(length=200, null=True, default=None)
    route = Varchar(length=200, null=True, default=None)
    provider = Varchar(length=120, null=True, default=None)
    model = Varchar(length=200, null=True, default=None)
    status = Integer()
    error_code = Varchar(length=60, null=True, default=None)
    stream = Boolean(default=False)
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    cached_tokens = Integer(default=0)
    reasoning_tokens = Integer(default=0)
    estimated = Boolean(default=False)
    cost_usd = Float(default=0.0)
    latency_ms = Float(default=0.0)
    ttft_ms = Float(null=True, default=None)
    attempts = Integer(default=1)
    detail = JSON(null=True, default=None)
    trace_id = Varchar(length=32, null=True, default=None)


class UsageDailyRow(Table, tablename="usage_daily"):
    """Rollup per UTC day, key, model and provider; the dashboards read this."""

    id = Varchar(length=300, primary_key=True)
    day = Date(index=True)
    key_id = Varchar(length=40, null=True, default=None)
    model = Varchar(length=200, null=True, default=None)
    provider = Varchar(length=120, null=True, default=None)
    requests = Integer(default=0)
    errors = Integer(default=0)
    prompt_tokens = Integer(default=0)
    completion_tokens = Integer(default=0)
    cost_usd = Float(default=0.0)
    latency_ms_sum = Float(default=0.0)


class LimitCounterRow(Table, tablename="limit_counter"):
    """Atomic counters in the database for replicas that share Postgres but no Redis."""

    key = Varchar(length=300, primary_key=True)
    value = Float(default=0.0)
    expires_at = Timestamptz()


class TaskRow(Table, tablename="task"):
    id = Varchar(length=40, primary_key=True)
    key_id = Varchar(length=40, null=True, default=None, index=True)
    endpoint = Varchar(length=200)
    body = JSON(default="{}")
    headers = JSON(default="{}")
    status = Varchar(length=12, default="queued", index=True)
    result = JSON(null=True, default=None)
    problem = JSON(null=True, default=None)
    webhook_url = Varchar(length=1000, null=True, default=None)
    webhook_status = Varchar(length=40, null=True, default=None)
    attempts = Integer(default=0)
    locked_by = Varchar(length=80, null=True, default=None)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    started_at = Timestamptz(null=True, default=None)
    finished_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)


class StoredResponseRow(Table, tablename="stored_response"):
    id = Varchar(length=60, primary_key=True)
    key_id = Varchar(length=40, null=True, default=None, index=True)
    data = JSON(default="{}")
    conversation = JSON(default="[]")
    created_at = Timestamptz()


ALL_TABLES: list[type[Table]] = [
    ProviderRow,
    RouteRow,
    PlanRow,
    ApiKeyRow,
    UserRow,
    CatalogStateRow,
    UsageEventRow,
    UsageDailyRow,
    LimitCounterRow,
    TaskRow,
    StoredResponseRow,
]
