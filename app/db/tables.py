"""Piccolo tables: the durable state (catalog, keys, users, usage, tasks, stored responses)."""

from __future__ import annotations

from piccolo.columns import (
    JSON,
    BigInt,
    Boolean,
    Bytea,
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
    "LATENCY_BUCKETS_MS",
    "ApiKeyRow",
    "BatchLineRow",
    "BatchRow",
    "CatalogStateRow",
    "FeedbackRow",
    "FileObjectRow",
    "LimitCounterRow",
    "PlanRow",
    "PromptRow",
    "PromptVersionRow",
    "ProviderRow",
    "RouteRow",
    "StoredResponseRow",
    "TaskRow",
    "TeamMemberRow",
    "TeamRow",
    "UsageDailyRow",
    "UsageEventRow",
    "UsageHourlyRow",
    "UsagePayloadRow",
    "UsageTagRow",
    "UserRow",
]

LATENCY_BUCKETS_MS: tuple[float, ...] = (
    1, 5, 10, 20, 30, 50, 75, 100, 150, 200, 300, 500,
    750, 1000, 1500, 2000, 3000, 5000, 7500, 10000, 15000, 20000, 30000, 60000,
)  # fmt: skip
"""Upper bounds (ms) of the hourly latency histogram; one more bucket (`lat_24`) holds the rest."""


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
    team_id = Varchar(length=40, null=True, default=None, index=True)
    """The team whose shared models and limits also hold this key; fixed when the key is made."""
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
    end_user = Varchar(length=200, null=True, default=None, index=True)
    """The caller's own user (`app/accounting/attribution.py`); usage by end user reads raw rows."""


class UsageTagRow(Table, tablename="usage_tag"):
    """One tag of one request-log row: usage by tag joins these to `usage_event` (pruned with it)."""

    event_id = Varchar(length=40, index=True)
    tag = Varchar(length=64, index=True)


class UsagePayloadRow(Table, tablename="usage_payload"):
    """The request and answer bodies of one request-log row (`POLYROUTE_PAYLOAD_LOG`), pruned with it or
    sooner (`POLYROUTE_PAYLOAD_RETENTION_DAYS`)."""

    event_id = Varchar(length=40, primary_key=True)
    ts = Timestamptz(index=True)
    request = Text()
    response = Text()
    truncated = Boolean(default=False)


class FeedbackRow(Table, tablename="feedback"):
    """A score a caller gave one request of the log (Portkey's feedback API); pruned with the request."""

    id = Varchar(length=40, primary_key=True)
    event_id = Varchar(length=40, index=True)
    value = Integer()
    """-10 to 10."""
    weight = Float(default=1.0)
    metadata = JSON(default="{}")
    given_by = Varchar(length=140)
    """`key <id>`, a username, or `admin key`."""
    created_at = Timestamptz()


class _RollupColumns:
    """The dimensions and measures both rollups share; `lat_<i>` counts requests whose latency is at
    most `LATENCY_BUCKETS_MS[i]` (and above the previous bound), `lat_24` the slower ones."""

    key_id = Varchar(length=40, null=True, default=None, index=True)
    plan = Varchar(length=120, null=True, default=None)
    model = Varchar(length=200, null=True, default=None)
    provider = Varchar(length=120, null=True, default=None)
    status = Integer(default=0)
    requests = Integer(default=0)
    errors = Integer(default=0)
    prompt_tokens = BigInt(default=0)
    completion_tokens = BigInt(default=0)
    cached_tokens = BigInt(default=0)
    reasoning_tokens = BigInt(default=0)
    estimated = Integer(default=0)
    """Requests whose tokens were counted by us (the upstream reported none)."""
    cost_usd = Float(default=0.0)
    latency_ms_sum = Float(default=0.0)
    ttft_ms_sum = Float(default=0.0)
    ttft_count = Integer(default=0)
    lat_0 = Integer(default=0)
    lat_1 = Integer(default=0)
    lat_2 = Integer(default=0)
    lat_3 = Integer(default=0)
    lat_4 = Integer(default=0)
    lat_5 = Integer(default=0)
    lat_6 = Integer(default=0)
    lat_7 = Integer(default=0)
    lat_8 = Integer(default=0)
    lat_9 = Integer(default=0)
    lat_10 = Integer(default=0)
    lat_11 = Integer(default=0)
    lat_12 = Integer(default=0)
    lat_13 = Integer(default=0)
    lat_14 = Integer(default=0)
    lat_15 = Integer(default=0)
    lat_16 = Integer(default=0)
    lat_17 = Integer(default=0)
    lat_18 = Integer(default=0)
    lat_19 = Integer(default=0)
    lat_20 = Integer(default=0)
    lat_21 = Integer(default=0)
    lat_22 = Integer(default=0)
    lat_23 = Integer(default=0)
    lat_24 = Integer(default=0)


class UsageDailyRow(_RollupColumns, Table, tablename="usage_daily"):
    """Rollup per UTC day, key, plan, model, provider and status: year-long views read this."""

    id = Varchar(length=300, primary_key=True)
    day = Date(index=True)


class UsageHourlyRow(_RollupColumns, Table, tablename="usage_hourly"):
    """Rollup per UTC hour, key, plan, model, provider and status: `/v1/usage` at hour resolution and
    the dashboard series read this, so p50/p95 need no scan of raw rows."""

    id = Varchar(length=400, primary_key=True)
    hour_ts = BigInt(index=True)
    """Start of the UTC hour, Unix seconds (integer arithmetic buckets it portably)."""


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


class FileObjectRow(Table, tablename="file_object"):
    """An uploaded file (a batch's input) or a file a batch produced, with its bytes, owned by one key."""

    id = Varchar(length=60, primary_key=True)
    key_id = Varchar(length=40, null=True, default=None, index=True)
    filename = Varchar(length=500)
    purpose = Varchar(length=40)
    size = BigInt(default=0)
    content = Bytea()
    created_at = Timestamptz()


class BatchRow(Table, tablename="batch"):
    """A batch: its OpenAI-shaped state, how it runs (emulated on the task runner, or passed through to
    the provider's batch API), and the lease of the replica that coordinates it."""

    id = Varchar(length=60, primary_key=True)
    key_id = Varchar(length=40, index=True)
    endpoint = Varchar(length=200)
    input_file_id = Varchar(length=60)
    completion_window = Varchar(length=20)
    status = Varchar(length=20, default="validating", index=True)
    mode = Varchar(length=10, null=True, default=None)
    """`emulated` or `native`, decided while validating."""
    provider = Varchar(length=120, null=True, default=None)
    model = Varchar(length=200, null=True, default=None)
    upstream_id = Varchar(length=200, null=True, default=None)
    upstream_file_id = Varchar(length=200, null=True, default=None)
    upstream_status = Varchar(length=20, null=True, default=None)
    output_file_id = Varchar(length=60, null=True, default=None)
    error_file_id = Varchar(length=60, null=True, default=None)
    total = Integer(default=0)
    completed = Integer(default=0)
    failed = Integer(default=0)
    errors = JSON(null=True, default=None)
    metadata = JSON(null=True, default=None)
    locked_by = Varchar(length=80, null=True, default=None)
    locked_until = Timestamptz(null=True, default=None)
    created_at = Timestamptz()
    in_progress_at = Timestamptz(null=True, default=None)
    finalizing_at = Timestamptz(null=True, default=None)
    completed_at = Timestamptz(null=True, default=None)
    failed_at = Timestamptz(null=True, default=None)
    cancelling_at = Timestamptz(null=True, default=None)
    cancelled_at = Timestamptz(null=True, default=None)
    expires_at = Timestamptz(null=True, default=None)
    expired_at = Timestamptz(null=True, default=None)


class BatchLineRow(Table, tablename="batch_line"):
    """One request line of an emulated batch (or an invalid line of any batch) and its outcome."""

    id = Varchar(length=60, primary_key=True)
    batch_id = Varchar(length=60, index=True)
    line_no = Integer()
    custom_id = Varchar(length=500, null=True, default=None)
    body = JSON(null=True, default=None)
    status = Varchar(length=12, default="pending")
    """pending | running | succeeded | failed"""
    task_id = Varchar(length=60, null=True, default=None)
    attempts = Integer(default=0)
    status_code = Integer(null=True, default=None)
    request_id = Varchar(length=60, null=True, default=None)
    response = JSON(null=True, default=None)
    error = JSON(null=True, default=None)


class TeamRow(Table, tablename="team"):
    """A group of users and keys sharing models and limits (LiteLLM's teams, Portkey's workspaces)."""

    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=120, unique=True)
    plan = Varchar(length=120, null=True, default=None)
    """The plan of keys made for the team when their creator names none."""
    models = JSON(null=True, default=None)
    """Glob patterns narrowing its keys' plans; null = their plans'."""
    limits = JSON(default="{}")
    """rpm, daily_requests, tpm, monthly_budget_usd on the sum of the team's keys."""
    source = Varchar(length=10, default="api")
    created_at = Timestamptz()
    updated_at = Timestamptz()


class TeamMemberRow(Table, tablename="team_member"):
    """A user in a team: `admin` manages the team's keys, `member` makes keys of their own in it."""

    id = Varchar(length=40, primary_key=True)
    team_id = Varchar(length=40, index=True)
    user_id = Varchar(length=40, index=True)
    role = Varchar(length=10, default="member")
    created_at = Timestamptz()


class PromptRow(Table, tablename="prompt"):
    """A named prompt template; callers use it as `model: prompt/<name>` (its published version)."""

    id = Varchar(length=40, primary_key=True)
    name = Varchar(length=120, unique=True)
    published = Integer(default=1)
    """The version `prompt/<name>` serves; `prompt/<name>@N` names another."""
    latest = Integer(default=1)
    created_at = Timestamptz()
    updated_at = Timestamptz()


class PromptVersionRow(Table, tablename="prompt_version"):
    """One immutable version of a prompt: its model, messages, parameters and variable defaults."""

    id = Varchar(length=40, primary_key=True)
    prompt_id = Varchar(length=40, index=True)
    version = Integer()
    body = JSON(default="{}")
    created_at = Timestamptz()


class AlertRow(Table, tablename="alert"):
    """One alert raised (a key's spend crossing a share of its budget), once across every replica:
    `dedup` is unique, so the worker whose insert wins is the one that delivers it."""

    id = Varchar(length=40, primary_key=True)
    dedup = Varchar(length=300, unique=True)
    type = Varchar(length=60, index=True)
    key_id = Varchar(length=40, null=True, default=None, index=True)
    payload = JSON(default="{}")
    delivery = Varchar(length=12, default="none")
    """none (no webhook configured) | pending | delivered | failed | superseded"""
    attempts = Integer(default=0)
    last_status = Integer(null=True, default=None)
    created_at = Timestamptz(index=True)


class AuditRow(Table, tablename="audit_event"):
    """One catalog change: who (the username, `admin key` or `cli`), through what, to which object, and
    what changed (secrets masked). Written in the change's own transaction."""

    id = Varchar(length=40, primary_key=True)
    ts = Timestamptz(index=True)
    actor = Varchar(length=200)
    actor_user_id = Varchar(length=40, null=True, default=None)
    via = Varchar(length=10)
    """api | ui | cli | system"""
    action = Varchar(length=20)
    resource = Varchar(length=20, index=True)
    resource_id = Varchar(length=40, index=True)
    resource_name = Varchar(length=200)
    changes = JSON(default="{}")


ALL_TABLES: list[type[Table]] = [
    ProviderRow,
    RouteRow,
    PlanRow,
    ApiKeyRow,
    UserRow,
    CatalogStateRow,
    UsageEventRow,
    UsageTagRow,
    UsagePayloadRow,
    FeedbackRow,
    UsageDailyRow,
    UsageHourlyRow,
    LimitCounterRow,
    TaskRow,
    StoredResponseRow,
    FileObjectRow,
    BatchRow,
    BatchLineRow,
    AlertRow,
    AuditRow,
    TeamRow,
    TeamMemberRow,
    PromptRow,
    PromptVersionRow,
]
