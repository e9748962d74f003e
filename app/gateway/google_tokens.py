"""Access tokens of Google service accounts, got once and kept until shortly before they expire.

A request only waits for the token endpoint when its account has no usable token: once an hour, and one
request per account at a time (the others wait for the same answer). A refusal or an unreachable endpoint
is remembered for a few seconds, so a broken key or an outage costs one token request per account every
few seconds rather than one per call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from app.providers.base import UpstreamRequest
from app.providers.google_auth import ServiceAccount, read_token, token_request

__all__ = ["GoogleTokens", "TokenUnavailable"]

REFRESH_MARGIN_S = 300.0
"""A token this close to its expiry is replaced: a call may take minutes, and clocks drift."""
FAILURE_BACKOFF_S = 5.0
TOKEN_TIMEOUT_S = 10.0

Fetch = Callable[[UpstreamRequest, float], Awaitable[tuple[int, bytes]]]
"""Sends a request and returns (status, body), within a timeout."""


class TokenUnavailable(Exception):
    """No access token could be got for the account (refused, unreachable, or failing recently)."""


class GoogleTokens:
    def __init__(self, fetch: Fetch, clock: Callable[[], float] = time.monotonic) -> None:
        self._fetch = fetch
        self._clock = clock
        self._tokens: dict[ServiceAccount, tuple[str, float]] = {}
        self._failures: dict[ServiceAccount, tuple[str, float]] = {}
        self._locks: dict[ServiceAccount, asyncio.Lock] = {}

    def _usable(self, account: ServiceAccount) -> str | None:
        kept = self._tokens.get(account)
        if kept is not None and kept[1] - REFRESH_MARGIN_S > self._clock():
            return kept[0]
        return None

    async def token(self, account: ServiceAccount) -> str:
        token = self._usable(account)
        if token is not None:
            return token
        lock = self._locks.setdefault(account, asyncio.Lock())
        async with lock:
            token = self._usable(account)  # another call may have got it while this one waited
            if token is not None:
                return token
            failed = self._failures.get(account)
            if failed is not None and failed[1] > self._clock():
                raise TokenUnavailable(failed[0])
            try:
                status, body = await self._fetch(token_request(account), TOKEN_TIMEOUT_S)
                token, lifetime = read_token(status, body)
            except Exception as exc:  # whatever went wrong, the call gets one clear reason
                reason = f"no Google access token for {account.client_email}: {exc}"
                self._failures[account] = (reason, self._clock() + FAILURE_BACKOFF_S)
                raise TokenUnavailable(reason) from None
            self._failures.pop(account, None)
            self._tokens[account] = (token, self._clock() + lifetime)
            return token
