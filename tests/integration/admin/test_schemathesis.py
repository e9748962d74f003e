"""Schemathesis fuzzes every management operation of our own OpenAPI document against a real gateway.

Each operation gets valid and invalid bodies, parameters and ids (positive and negative generation),
sent with the admin key; no response may be a 5xx, and every response must be documented: its
status code, its content type, its headers and its body against the schema (problem+json for every
error), and invalid input must be refused with a 4xx. Examples are bounded and derandomized so the
run is stable and fits in CI.

Schemathesis' own pytest entry point (`schemathesis.pytest.from_fixture`) fails on pytest 9
(`'Function' object has no attribute '_nodeid'`), so each resource's operations run here through
`APIOperation.as_strategy` under Hypothesis' `@given`, and every failing operation is reported.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.gateway_process import ADMIN_KEY, GatewayProcess, start_gateway
from tests.integration.admin.conftest import ALLOWED_HOSTS, admin_config

RESOURCES = {
    "configs": r"^/v1/configs\b",
    "routes": r"^/v1/routes\b",
    "plans": r"^/v1/plans\b",
    "api-keys": r"^/v1/api-keys\b",
    "users": r"^/v1/users\b",
    "teams": r"^/v1/teams\b",
    "prompts": r"^/v1/prompts\b",
    "auth": r"^/v1/auth/",
    "usage": r"^/v1/(usage|requests|feedback)\b",
    "health": r"^/v1/health/",
    "alerts": r"^/v1/alerts\b",
    "audit": r"^/v1/audit\b",
}
"""Every management path, by resource; the document holds no inference or UI paths (checked below)."""

CHECKS = [
    # Left out: positive_data_acceptance (ST202, "schema-valid request rejected"). A body can be
    # schema-valid and still rightly refused: a route naming a provider that does not exist, a key
    # on an unknown plan, an `expires_at` in the past, a duplicate name (422/409/404 with a problem),
    # rules across objects or against the clock that no JSON Schema can state. The checks below
    # still hold every such refusal to a documented status and a problem+json body.
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]

EXAMPLES = 10
"""Per operation, generation mode and backend (so 20 per operation and mode): 31 operations x 2 modes x
2 backends x 10 takes about 80 s on two cores."""

AUTH = {"Authorization": f"Bearer {ADMIN_KEY}"}


@pytest.fixture(scope="module")
def fuzzed_gw(tmp_path_factory: pytest.TempPathFactory, db_url: str) -> Iterator[GatewayProcess]:
    """A gateway of its own per backend (the fuzzer creates and deletes objects the shared admin
    gateway's tests count). Both backends: Postgres refuses what SQLite stores (an rpm past int32 was
    a 500 on Postgres only), SQLite overflowed where Postgres did not."""
    process = start_gateway(
        Path(tmp_path_factory.mktemp("schemathesis-gw")),
        admin_config(),
        env={"POLYROUTE_ALLOWED_UPSTREAM_HOSTS": ALLOWED_HOSTS},
        database_url=db_url,
    )
    yield process
    process.stop()


@pytest.fixture(scope="module")
def document(fuzzed_gw: GatewayProcess) -> Any:
    return schemathesis.openapi.from_url(fuzzed_gw.base_url + "/schema/openapi.json", timeout=30)


def operations(document: Any, pattern: str) -> list[Any]:
    found = []
    for result in document.get_all_operations():
        operation = result.ok()  # raises on an operation schemathesis cannot read: that is a failure too
        if re.search(pattern, operation.path):
            found.append(operation)
    return found


def fuzz(operation: Any, mode: GenerationMode) -> None:
    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        # Shrinking replays dozens of real HTTP calls per failure; the derandomized example is reproducible as is.
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    def run(case: schemathesis.Case) -> None:
        case.call_and_validate(headers=AUTH, checks=CHECKS, timeout=30)

    run()


def test_the_document_lists_only_management_paths(document: Any) -> None:
    paths = [op.ok().path for op in document.get_all_operations()]
    assert len(paths) >= 29
    unmatched = [p for p in paths if not any(re.search(rx, p) for rx in RESOURCES.values())]
    assert not unmatched, f"operations no resource below fuzzes: {unmatched}"


@pytest.mark.slow
@pytest.mark.parametrize("resource", list(RESOURCES))
def test_management_operations_conform_to_the_document(document: Any, resource: str) -> None:
    found = operations(document, RESOURCES[resource])
    assert found, f"no {resource} operation in the document"
    failures = []
    for operation in found:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                fuzz(operation, mode)
            except Unsatisfiable:
                # Nothing to negate: every parameter is a plain string (a path id, a name filter) and no
                # body, so no request can violate the schema. Positive generation always has cases.
                if mode is GenerationMode.POSITIVE:
                    failures.append(f"--- {operation.label} (positive): no case could be generated")
            except (Exception, BaseExceptionGroup) as exc:  # schemathesis reports several checks as a group
                failures.append(f"--- {operation.label} ({mode.value}):\n{exc}")
    assert not failures, "\n".join(failures)


def test_what_fuzzing_found_stays_fixed(fuzzed_gw: GatewayProcess) -> None:
    """The 5xx fuzzing found, replayed exactly on both backends: each is now a problem naming what is wrong."""
    lists = ("configs", "routes", "plans", "users", "api-keys", "requests")
    with fuzzed_gw.admin() as admin:
        cases: list[tuple[str, str, Any, Any, int, str | None]] = [
            *[("GET", f"/v1/{p}", {"offset": 10**27}, None, 422, "offset") for p in lists],
            ("POST", "/v1/plans", None, {"name": "huge", "rpm": 26795189751552668}, 422, "rpm"),  # int32 column
            # Postgres text cannot hold NUL: in a path, a query or a body it was a 500 there.
            *[("GET", f"/v1/{p}/a%00b", None, None, 400, None) for p in lists],
            *[("GET", f"/v1/{p}", {"plan": "a\x00b"}, None, 400, None) for p in ("usage", "usage/series", "api-keys")],
            ("DELETE", "/v1/configs/a%00b", None, None, 400, None),
            (
                "POST",
                "/v1/api-keys",
                None,
                {"name": "k", "metadata": {"note": ["ok", "a\x00b"]}},
                422,
                "metadata.note[1]",
            ),
            ("POST", "/v1/api-keys", None, {"name": "k", "metadata": {"a\x00b": 1}}, 422, "metadata.a\x00b"),
            ("POST", "/v1/auth/token", None, {"username": "a\x00b", "password": "x"}, 422, "username"),
        ]
        for method, path, params, body, status, field in cases:
            resp = admin.request(method, path, params=params, json=body)
            assert resp.status_code == status, (method, path, resp.text)
            assert resp.headers["content-type"] == "application/problem+json"
            if field is not None:
                assert resp.json()["errors"][0]["field"] == field, (path, resp.text)
