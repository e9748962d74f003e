"""Feedback on requests (POST /v1/feedback, GET /v1/feedback) through the real server, on SQLite and
Postgres: who may score which request, what the request log shows, the summary by model, bad input."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from tests.db_backends import BACKENDS, gateway_on
from tests.fakes.openai import FakeOpenAI
from tests.gateway_process import GatewayProcess
from tests.integration.ui.conftest import page_text, ui_client
from tests.integration.usage.harness import KEYS, usage_config

pytestmark = pytest.mark.usefixtures("fakes_reset")


@pytest.fixture(scope="module", params=BACKENDS)
def gw(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, fake_openai: FakeOpenAI
) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp(f"feedback-{request.param}")
    with gateway_on(str(request.param), tmp, usage_config(fake_openai)) as gateway:
        yield gateway


def _asked(gw: GatewayProcess, key: str) -> str:
    client = openai.OpenAI(api_key=key, base_url=gw.v1, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(
        model="fakeai/gpt-fake", messages=[{"role": "user", "content": "rate me"}]
    )
    request_id = str(raw.headers["x-request-id"])
    gw.logged(request_id)  # in the log
    return request_id


def _give(gw: GatewayProcess, key: str, **body: Any) -> httpx.Response:
    with gw.http(headers={"Authorization": f"Bearer {key}"}) as http:
        return http.post("/v1/feedback", json=body)


def test_a_key_scores_its_own_requests_and_the_log_shows_it(gw: GatewayProcess) -> None:
    request_id = _asked(gw, KEYS["open"])
    given = _give(
        gw, KEYS["open"], request_id=request_id, value=7, weight=0.5, metadata={"user": "ann", "thumbs": True}
    )
    assert given.status_code == 201, given.text
    body = given.json()
    assert (body["object"], body["value"], body["weight"], body["request_id"]) == ("feedback", 7, 0.5, request_id)
    assert body["given_by"].startswith("key ")
    # Another key cannot see the request, so cannot score it; the admin key can.
    assert _give(gw, KEYS["other"], request_id=request_id, value=-10).status_code == 404
    assert _give(gw, gw.admin_key, request_id=request_id, value=-2).status_code == 201
    record = gw.logged(request_id)
    assert [(f["value"], f["given_by"]) for f in record["feedback"]] == [(7, body["given_by"]), (-2, "admin key")]
    assert record["feedback"][0]["metadata"] == {"user": "ann", "thumbs": True}


def test_the_summary_weighs_the_scores_by_model(gw: GatewayProcess) -> None:
    first, second = _asked(gw, KEYS["day50"]), _asked(gw, KEYS["day50"])
    for request_id, value, weight in ((first, 10, 1.0), (second, -5, 1.0), (second, 4, 0.5)):
        assert _give(gw, KEYS["day50"], request_id=request_id, value=value, weight=weight).status_code == 201
    with gw.http(headers={"Authorization": f"Bearer {KEYS['day50']}"}) as http:  # a key sees its own requests
        report = http.get("/v1/feedback", params={"group_by": "model"}).json()
    (group,) = report["data"]
    assert group["group"] == {"model": "gpt-fake"} and group["count"] == 3
    assert group["average"] == pytest.approx((10 - 5 + 2) / 2.5)
    assert group["positive_share"] == pytest.approx(2 / 3, abs=1e-4)


@pytest.mark.parametrize(
    ("content", "status"),
    [
        (b"{not json", 400),
        (b'{"request_id": "req_x", "value": "good"}', 422),
        (b'{"request_id": "req_x"}', 422),
        (b'{"request_id": "req_x", "value": 11}', 422),
        (b'{"request_id": "req_x", "value": 1, "weight": 2}', 422),
        (b'{"request_id": "req_x", "value": 1, "colour": "red"}', 422),
        (b'{"request_id": "req_x", "value": 1, "metadata": {"a": [1]}}', 422),
    ],
)
def test_bad_feedback_is_refused_with_a_problem(gw: GatewayProcess, content: bytes, status: int) -> None:
    with gw.http(headers={"Authorization": f"Bearer {KEYS['open']}", "content-type": "application/json"}) as http:
        response = http.post("/v1/feedback", content=content)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert response.json()["error"]["message"]


def test_unknown_requests_oversized_bodies_and_strangers_are_refused(gw: GatewayProcess) -> None:
    assert _give(gw, KEYS["open"], request_id="req_000000000000000000000000", value=1).status_code == 404
    too_many = {f"k{i}": i for i in range(17)}
    assert _give(gw, KEYS["open"], request_id="req_x", value=1, metadata=too_many).status_code == 422
    with gw.http(headers={"Authorization": f"Bearer {KEYS['open']}"}) as http:
        big = http.post("/v1/feedback", content=b'{"request_id": "' + b"x" * (2 * 1024 * 1024) + b'"}')
        assert big.status_code == 413
    with gw.http() as http:
        assert http.post("/v1/feedback", json={"request_id": "req_x", "value": 1}).status_code == 401


def test_the_request_page_lists_the_feedback(gw: GatewayProcess) -> None:
    request_id = _asked(gw, KEYS["open"])
    assert _give(gw, KEYS["open"], request_id=request_id, value=-3, metadata={"why": "too long"}).status_code == 201
    client = ui_client(gw)
    assert client.login(admin_key=gw.admin_key).status_code == 303
    html = client.get(f"/ui/requests/{request_id}").text
    client.close()
    table = page_text(html.split('id="feedback"', 1)[1].split("</table>", 1)[0])
    assert "-3" in table and "why=too long" in table and "key " in table
