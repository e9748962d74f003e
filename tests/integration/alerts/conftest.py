"""One webhook receiver for the alert tests; each gateway posts under a path of its own."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.webhooks import WebhookReceiver


@pytest.fixture(scope="package")
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server
