"""Task webhooks: HMAC-SHA256 signatures, and delivery with bounded exponential-backoff retries.

Every delivery carries `X-Polyroute-Signature: t=<unix seconds>,v1=<hex>`, where `<hex>` is
HMAC-SHA256(secret, "<t>.<raw body>"). A receiver recomputes it over the exact bytes it got,
compares in constant time, and rejects a `t` older than a few minutes (replays):

    fields = dict(part.split("=", 1) for part in header.split(","))
    expected = hmac.new(secret, fields["t"].encode() + b"." + body, hashlib.sha256).hexdigest()
    ok = hmac.compare_digest(expected, fields["v1"]) and abs(time.time() - int(fields["t"])) <= 300

(`app.tasks.webhooks.verify` does exactly this.)
The secret is `POLYROUTE_WEBHOOK_SECRET`; when that is unset it is
hex(HMAC-SHA256(key=<POLYROUTE_SECRET_KEY or the data dir's polyroute.secret>, "polyroute/webhook/v1")).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from app.catalog.secrets import SecretBox
from app.settings import Settings

__all__ = [
    "SIGNATURE_HEADER",
    "Delivery",
    "WebhookSender",
    "parse_signature",
    "sign",
    "verify",
    "webhook_secret",
]

log = logging.getLogger("polyroute.tasks")

SIGNATURE_HEADER = "X-Polyroute-Signature"
_RETRYABLE = {408, 409, 425, 429}
_MAX_DELAY_S = 60.0


def webhook_secret(settings: Settings) -> bytes:
    """The signing secret: the setting, or one derived from the secret key so every replica agrees."""
    if settings.webhook_secret:
        return settings.webhook_secret.encode()
    if settings.secret_key:
        material = settings.secret_key.encode()
    else:
        SecretBox.from_settings(None, settings.data_dir)  # creates the key file on first run
        material = (Path(settings.data_dir) / "polyroute.secret").read_bytes().strip()
    return hmac.new(material, b"polyroute/webhook/v1", hashlib.sha256).hexdigest().encode()


def _mac(secret: bytes, timestamp: int, body: bytes) -> str:
    return hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()


def sign(secret: bytes, body: bytes, timestamp: int | None = None) -> str:
    """The `X-Polyroute-Signature` value for `body`."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp},v1={_mac(secret, stamp, body)}"


def parse_signature(header: str) -> tuple[int, list[str]] | None:
    """(timestamp, v1 signatures) from a header value; None when malformed."""
    stamp: int | None = None
    signatures: list[str] = []
    for part in header.split(","):
        name, _, value = part.strip().partition("=")
        if name == "t" and value.isdigit():
            stamp = int(value)
        elif name == "v1" and value:
            signatures.append(value)
    if stamp is None or not signatures:
        return None
    return stamp, signatures


def verify(secret: bytes, header: str, body: bytes, *, tolerance_s: float = 300, now: float | None = None) -> bool:
    """True when `header` signs `body` with `secret` and is at most `tolerance_s` old (or ahead)."""
    parsed = parse_signature(header)
    if parsed is None:
        return False
    stamp, signatures = parsed
    moment = time.time() if now is None else now
    if abs(moment - stamp) > tolerance_s:
        return False
    expected = _mac(secret, stamp, body)
    # Bytes, not str: compare_digest refuses non-ASCII str, and a forged header may carry any.
    return any(hmac.compare_digest(expected.encode(), s.encode()) for s in signatures)


@dataclass(frozen=True, slots=True)
class Delivery:
    """How one webhook delivery ended."""

    delivered: bool
    attempts: int
    last_status: int | None
    """The receiver's last HTTP status; None when it was unreachable."""

    @property
    def outcome(self) -> str:
        return "delivered" if self.delivered else "failed"


@dataclass
class WebhookSender:
    """POSTs signed task objects (and alerts), retrying connection errors, 408/409/425/429 and 5xx with backoff."""

    client: httpx.AsyncClient
    secret: bytes
    max_attempts: int = 5
    backoff_s: float = 1.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int) -> float:
        """Seconds before retry number `attempt` (1-based): base * 2^(attempt-1), capped, +10% jitter."""
        base = min(_MAX_DELAY_S, self.backoff_s * 2 ** (attempt - 1))
        return base * (1 + 0.1 * self.rng.random())

    async def deliver(self, url: str, body: bytes, *, ref: str, ref_header: str = "X-Polyroute-Task-Id") -> Delivery:
        """POST `body` to `url`; `ref` (a task or alert id) goes in `ref_header` and the logs."""
        status: int | None = None
        attempt = 0
        for attempt in range(1, self.max_attempts + 1):
            headers = {
                "content-type": "application/json",
                "user-agent": "polyroute-webhooks/1",
                SIGNATURE_HEADER: sign(self.secret, body),
                ref_header: ref,
                "X-Polyroute-Webhook-Attempt": str(attempt),
            }
            try:
                resp = await self.client.post(url, content=body, headers=headers)
                status = resp.status_code
            except httpx.HTTPError as exc:
                status = None
                log.info("%s webhook attempt %d failed: %s", ref, attempt, type(exc).__name__)
            if status is not None and 200 <= status < 300:
                return Delivery(True, attempt, status)
            if status is not None and status < 500 and status not in _RETRYABLE:
                break  # the receiver refused it for good (4xx): retrying will not help
            if attempt < self.max_attempts:
                await self.sleep(self.delay(attempt))
        log.warning("%s webhook not delivered after %d attempts (last status %s)", ref, attempt, status)
        return Delivery(False, attempt, status)
