"""Shared fixtures: fake upstreams and the real gateway process driven by the official SDKs."""

from __future__ import annotations

import ast
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.db_backends import BACKENDS, database_url
from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini
from tests.fakes.openai import FakeOpenAI
from tests.fakes.search import FakeSearch
from tests.fakes.server import free_port
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway

FAKE_MODELS = [
    "gpt-fake",
    "gpt-3.5-turbo-instruct",
    "omni-moderation-fake",
    "text-embedding-fake",
    "gpt-image-fake",
    "fake-500",
    "fake-503",
    "fake-429",
    "fake-400",
    "fake-401",
    "fake-404",
    "fake-content-policy",
    "fake-context",
    "fake-html",
    "fake-200-error",
    "fake-stall",
    "fake-stall-first",
    "fake-stall-mid",
    "fake-cut",
    "fake-no-done",
    "fake-malformed-sse",
    "fake-no-usage",
    "fake-tool",
    "fake-chunks-200",
    "fake-slow-300",
]

IN_CI = os.environ.get("CI", "").lower() == "true"


def _serialize_ast_parse() -> None:
    """CPython 3.11 keeps ast.parse's recursion counter in interpreter-wide state, so two threads
    parsing at once can fail one of them with "SystemError: AST constructor recursion depth mismatch"
    (python/cpython#106905). In this process that happens when pytest rewrites a lazily imported
    plugin module (schemathesis) while a fake upstream's thread formats a logged traceback (3.11's
    traceback module parses each source line for its carets): a CI run lost three tests to it. One
    lock around every Python-level parse makes them take turns; only the test process is patched."""
    parse = ast.parse
    lock = threading.RLock()

    def serialized(*args: Any, **kwargs: Any) -> Any:
        with lock:
            return parse(*args, **kwargs)

    ast.parse = serialized  # type: ignore[assignment]


_serialize_ast_parse()


@pytest.fixture(scope="session")
def fake_openai() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_backup() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_search() -> Iterator[FakeSearch]:
    server = FakeSearch().start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_anthropic() -> Iterator[FakeAnthropic]:
    server = FakeAnthropic(api_key="sk-ant-upstream-secret").start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def fake_gemini() -> Iterator[FakeGemini]:
    server = FakeGemini(api_key="gemini-upstream-secret").start()
    yield server
    server.stop()


ANTHROPIC_MODELS = [
    "claude-fake",
    "fake-tool",
    "fake-thinking",
    "fake-500",
    "fake-529",
    "fake-400",
    "fake-cut",
    "fake-stream-error",
    "fake-chunks-30",
    "fake-refusal",
    "fake-stall-first",
]
GEMINI_MODELS = [
    "gemini-fake",
    "fake-tool",
    "fake-thinking",
    "fake-500",
    "fake-400",
    "fake-cut",
    "fake-safety",
    "fake-no-finish",
]


def dialect_providers(anthropic: FakeAnthropic | None, gemini: FakeGemini | None) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if anthropic is not None:
        out.append(
            {
                "name": "claude",
                "kind": "anthropic",
                "base_url": anthropic.base_url,
                "api_key": "sk-ant-upstream-secret",
                "timeout_s": 3,
                "models": [
                    {
                        "id": m,
                        "input_cost_per_mtok": 3.0,
                        "output_cost_per_mtok": 15.0,
                        "cached_input_cost_per_mtok": 0.3,
                        "context_window": 200000,
                    }
                    for m in ANTHROPIC_MODELS
                ],
            }
        )
    if gemini is not None:
        out.append(
            {
                "name": "gem",
                "kind": "gemini",
                "base_url": gemini.base_url + "/v1beta",
                "api_key": "gemini-upstream-secret",
                "timeout_s": 3,
                "models": [
                    {"id": m, "input_cost_per_mtok": 0.1, "output_cost_per_mtok": 0.4, "context_window": 1000000}
                    for m in GEMINI_MODELS
                ],
            }
        )
    return out


def base_config(primary: FakeOpenAI, backup: FakeOpenAI) -> dict[str, Any]:
    models = [
        {"id": m, "input_cost_per_mtok": 1.0, "output_cost_per_mtok": 2.0, "context_window": 128000}
        for m in FAKE_MODELS
    ]
    models.append({"id": "dall-e-fake", "cost_per_image": 0.04})
    return {
        "providers": [
            {
                "name": "fakeai",
                "kind": "openai",
                "base_url": primary.base_url + "/v1",
                "api_key": "sk-upstream-primary-secret",
                "timeout_s": 3,
                "models": models,
            },
            {
                "name": "backup",
                "kind": "openai-compatible",
                "base_url": backup.base_url + "/v1",
                "api_key": "sk-upstream-backup-secret",
                "timeout_s": 3,
                "models": [
                    {"id": "gpt-fake", "input_cost_per_mtok": 0.5, "output_cost_per_mtok": 1.0},
                    {"id": "fake-tool"},
                    {"id": "fake-search"},
                ],
            },
            {
                "name": "dead",
                "kind": "openai",
                "base_url": f"http://127.0.0.1:{free_port()}/v1",
                "api_key": "sk-dead",
                "timeout_s": 2,
                "models": [{"id": "gpt-fake"}],
            },
            {"name": "demo", "kind": "demo", "models": [{"id": "echo"}]},
        ],
        "routes": [
            {
                "name": "route/fallback",
                "targets": [
                    {"provider": "fakeai", "model": "fake-500", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
            {
                "name": "route/dead-first",
                "targets": [
                    {"provider": "dead", "model": "gpt-fake", "priority": 0},
                    {"provider": "backup", "model": "gpt-fake", "priority": 1},
                ],
            },
        ],
        "plans": [
            {"name": "free", "models": ["fakeai/gpt-fake", "route/*"]},
            {"name": "internal", "models": ["*"]},
        ],
        "api_keys": [
            {"name": "test", "key": API_KEY, "plan": "internal"},
            {"name": "free-key", "key": "sk-poly-free-0123456789abcdefghij", "plan": "free"},
        ],
    }


@pytest.fixture(scope="module", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    """The database under a suite's own gateway (`gateway_on(backend, ...)`): each module runs on SQLite and Postgres.

    Module scope keeps the two runs of a module together; packages whose gateway is shared by several
    modules override it at package scope.
    """
    return str(request.param)


@pytest.fixture(scope="session", params=BACKENDS)
def gateway(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    fake_openai: FakeOpenAI,
    fake_backup: FakeOpenAI,
    fake_anthropic: FakeAnthropic,
    fake_gemini: FakeGemini,
    fake_search: FakeSearch,
) -> Iterator[GatewayProcess]:
    config = base_config(fake_openai, fake_backup)
    config["providers"] += dialect_providers(fake_anthropic, fake_gemini)
    config["providers"].append(
        {
            "name": "search",
            "kind": "tavily",
            "base_url": fake_search.base_url,
            "api_key": fake_search.api_key,
            "timeout_s": 3,
        }
    )
    # Every test on this gateway runs on SQLite and on Postgres (a fresh database, dropped afterwards).
    tmp = tmp_path_factory.mktemp("gateway")
    with database_url(request.param, tmp) as url:
        gw = start_gateway(tmp, config, database_url=url)
        yield gw
        gw.stop()


@pytest.fixture
def fakes_reset(
    fake_openai: FakeOpenAI, fake_backup: FakeOpenAI, fake_anthropic: FakeAnthropic, fake_gemini: FakeGemini
) -> Iterator[None]:
    fakes = (fake_openai, fake_backup, fake_anthropic, fake_gemini)
    for fake in fakes:
        fake.reset()
    yield
    for fake in fakes:
        fake.reset()


SERIAL = (
    "tests/e2e_real/",  # a real model on the CPU
    "tests/unit/limits/test_burst.py",  # thousands of store answers, each within a timeout
    "tests/unit/accounting/test_queries_scale.py",  # query-time budgets over a year of rows
    "tests/integration/ui/test_page_speed.py",  # page render budgets
    "tests/integration/test_bench_smoke.py",  # the benchmark, load included
)
"""Modules that time themselves or load the CPU: `serial`, so ./scripts/test runs them alone after the
parallel phase, where neighbours cannot slow them down or be slowed down by them."""


@pytest.hookimpl(tryfirst=True)  # before `-m` selects on the mark
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    root = Path(str(config.rootpath))
    for item in items:
        where = Path(str(item.path)).relative_to(root).as_posix()
        if where.startswith(SERIAL):
            item.add_marker(pytest.mark.serial)


def artifacts_dir() -> Path:
    path = Path(__file__).resolve().parents[1] / "test-artifacts"
    path.mkdir(exist_ok=True)
    return path
