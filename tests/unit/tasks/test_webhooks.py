"""Webhook signatures (sign, verify, the documented recipe) and delivery retries."""

from __future__ import annotations

import hashlib
import hmac
import time
from pathlib import Path

import httpx
import pytest

from app.settings import Settings
from app.tasks.webhooks import SIGNATURE_HEADER, WebhookSender, parse_signature, sign, verify, webhook_secret

SECRET = b"whsec-test-0123456789"
BODY = b'{"id":"task_1","status":"succeeded","result":{"text":"h\xc3\xa9"}}'


def test_signature_is_the_documented_hmac_of_timestamp_dot_body() -> None:
    header = sign(SECRET, BODY, timestamp=1_700_000_000)
    fields = dict(part.split("=", 1) for part in header.split(","))
    assert fields["t"] == "1700000000"
    expected = hmac.new(SECRET, b"1700000000." + BODY, hashlib.sha256).hexdigest()
    assert fields["v1"] == expected
    assert parse_signature(header) == (1_700_000_000, [expected])


def test_verify_accepts_the_real_thing_and_nothing_else() -> None:
    now = time.time()
    header = sign(SECRET, BODY)
    assert verify(SECRET, header, BODY, now=now)
    assert not verify(SECRET, header, BODY + b" ", now=now)  # body changed
    assert not verify(b"another-secret", header, BODY, now=now)
    assert not verify(SECRET, header, BODY, now=now + 301)  # replayed too late
    assert not verify(SECRET, header.replace("t=", "t=1"), BODY, now=now)  # timestamp changed
    stamp = header.split(",")[0]
    for malformed in ("", "v1=abc", "t=123", "t=x,v1=abc", "garbage", f"{stamp},v1=é{'0' * 63}"):
        assert not verify(SECRET, malformed, BODY, now=now)
    rotated = f"{header},v1={'0' * 64}"  # several signatures: any one may match
    assert verify(SECRET, rotated, BODY, now=now)


def test_secret_is_the_setting_or_derived_from_the_secret_key(tmp_path: Path) -> None:
    assert webhook_secret(Settings(webhook_secret="whsec-x", data_dir=str(tmp_path))) == b"whsec-x"
    key = "k" * 44
    derived = webhook_secret(Settings(secret_key=key, data_dir=str(tmp_path)))
    assert derived == hmac.new(key.encode(), b"polyroute/webhook/v1", hashlib.sha256).hexdigest().encode()
    from_file = webhook_secret(Settings(data_dir=str(tmp_path)))  # generates polyroute.secret on first use
    material = (tmp_path / "polyroute.secret").read_bytes().strip()
    assert from_file == hmac.new(material, b"polyroute/webhook/v1", hashlib.sha256).hexdigest().encode()
    assert webhook_secret(Settings(data_dir=str(tmp_path))) == from_file  # stable across restarts


class Receiver:
    """An httpx transport that answers from a list of statuses (or raises for None)."""

    def __init__(self, *statuses: int | None) -> None:
        self.statuses = list(statuses)
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        status = self.statuses.pop(0) if self.statuses else 200
        if status is None:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(status)


def _sender(receiver: Receiver, sleeps: list[float], max_attempts: int = 5) -> WebhookSender:
    async def sleep(delay: float) -> None:
        sleeps.append(delay)

    client = httpx.AsyncClient(transport=httpx.MockTransport(receiver))
    return WebhookSender(client, SECRET, max_attempts=max_attempts, backoff_s=0.5, sleep=sleep)


async def test_retries_with_exponential_backoff_until_delivered() -> None:
    receiver, sleeps = Receiver(503, None, 200), list[float]()
    delivery = await _sender(receiver, sleeps).deliver("http://hooks.test/in", BODY, ref="task_1")
    assert (delivery.delivered, delivery.attempts, delivery.last_status, delivery.outcome) == (
        True,
        3,
        200,
        "delivered",
    )
    assert len(sleeps) == 2 and 0.5 <= sleeps[0] <= 0.55 and 1.0 <= sleeps[1] <= 1.1
    for attempt, request in enumerate(receiver.requests, start=1):
        assert request.content == BODY
        assert request.headers["X-Polyroute-Webhook-Attempt"] == str(attempt)
        assert request.headers["X-Polyroute-Task-Id"] == "task_1"
        assert verify(SECRET, request.headers[SIGNATURE_HEADER], request.content)


async def test_gives_up_after_max_attempts() -> None:
    receiver, sleeps = Receiver(500, 502, 503, 429), list[float]()
    delivery = await _sender(receiver, sleeps, max_attempts=4).deliver("http://hooks.test/in", BODY, ref="t")
    assert (delivery.delivered, delivery.attempts, delivery.last_status, delivery.outcome) == (False, 4, 429, "failed")
    assert len(receiver.requests) == 4 and len(sleeps) == 3
    assert sleeps == sorted(sleeps)


@pytest.mark.parametrize("status", [400, 401, 404, 410])
async def test_a_client_error_is_final(status: int) -> None:
    receiver, sleeps = Receiver(status), list[float]()
    delivery = await _sender(receiver, sleeps).deliver("http://hooks.test/in", BODY, ref="t")
    assert not delivery.delivered and delivery.attempts == 1 and sleeps == []


def test_backoff_is_capped() -> None:
    sender = WebhookSender(httpx.AsyncClient(), SECRET, backoff_s=1.0)
    assert [round(sender.delay(n)) for n in (1, 2, 3)] == [1, 2, 4]
    assert 60 <= sender.delay(20) <= 66
