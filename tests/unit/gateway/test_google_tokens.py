"""Access tokens are kept per account, renewed before they expire, got once for concurrent calls, and a
failure is remembered for a few seconds instead of being asked again on every call."""

from __future__ import annotations

import asyncio

import pytest

from app.gateway.google_tokens import FAILURE_BACKOFF_S, GoogleTokens, TokenUnavailable
from app.providers.base import UpstreamRequest
from app.providers.google_auth import ServiceAccount
from tests.unit.providers.test_google_auth import PEM

ACCOUNT = ServiceAccount("sa@p.iam.gserviceaccount.com", PEM, "kid", "https://oauth2.googleapis.com/token")
OTHER = ServiceAccount("other@p.iam.gserviceaccount.com", PEM, "kid2", "https://oauth2.googleapis.com/token")


class TokenEndpoint:
    """Answers token requests like Google's endpoint; counts them."""

    def __init__(self) -> None:
        self.calls = 0
        self.lifetime = 3600
        self.status = 200
        self.delay = 0.0

    async def __call__(self, req: UpstreamRequest, timeout: float) -> tuple[int, bytes]:
        self.calls += 1
        await asyncio.sleep(self.delay)
        if self.status != 200:
            return self.status, b'{"error":"invalid_grant","error_description":"Invalid JWT Signature."}'
        return 200, b'{"access_token":"ya29.t%d","expires_in":%d}' % (self.calls, self.lifetime)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_kept_until_five_minutes_before_expiry() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    tokens = GoogleTokens(endpoint, clock)
    assert await tokens.token(ACCOUNT) == "ya29.t1"
    clock.now += 3600 - 301
    assert await tokens.token(ACCOUNT) == "ya29.t1"
    clock.now += 2
    assert await tokens.token(ACCOUNT) == "ya29.t2"
    assert await tokens.token(OTHER) == "ya29.t3"  # per account
    assert endpoint.calls == 3


async def test_concurrent_calls_share_one_token_request() -> None:
    endpoint = TokenEndpoint()
    endpoint.delay = 0.05
    tokens = GoogleTokens(endpoint)
    got = await asyncio.gather(*(tokens.token(ACCOUNT) for _ in range(20)))
    assert set(got) == {"ya29.t1"} and endpoint.calls == 1


async def test_a_refusal_is_remembered_briefly() -> None:
    endpoint, clock = TokenEndpoint(), Clock()
    endpoint.status = 400
    tokens = GoogleTokens(endpoint, clock)
    for _ in range(3):
        with pytest.raises(TokenUnavailable, match="Invalid JWT Signature"):
            await tokens.token(ACCOUNT)
    assert endpoint.calls == 1
    endpoint.status = 200
    clock.now += FAILURE_BACKOFF_S + 0.1
    assert await tokens.token(ACCOUNT) == "ya29.t2"
