"""HTTPS upstreams: verified against the system trust store (here a test CA through SSL_CERT_FILE).

Real providers are all HTTPS; the other fakes speak plain HTTP, so this is the one place the TLS
path of the upstream client runs end to end: answers whole and streamed over one verified
connection, and a certificate nobody trusts refused with a clear 502 rather than sent to.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.fakes.openai import FakeOpenAI
from tests.fakes.tls import make_ca
from tests.gateway_process import API_KEY, GatewayProcess, start_gateway


@pytest.fixture(scope="module")
def upstreams(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[FakeOpenAI, FakeOpenAI, Path]]:
    trusted = make_ca(tmp_path_factory.mktemp("ca-trusted"))
    stranger = make_ca(tmp_path_factory.mktemp("ca-stranger"))
    good = FakeOpenAI(tls=trusted.server_context()).start()
    bad = FakeOpenAI(tls=stranger.server_context()).start()
    yield good, bad, trusted.ca_file
    good.stop()
    bad.stop()


@pytest.fixture(scope="module")
def tls_gw(
    tmp_path_factory: pytest.TempPathFactory, upstreams: tuple[FakeOpenAI, FakeOpenAI, Path]
) -> Iterator[GatewayProcess]:
    good, bad, ca_file = upstreams
    provider = {"kind": "openai", "api_key": "sk-up", "probe_interval_s": 0, "timeout_s": 10}
    config = {
        "providers": [
            {**provider, "name": "secure", "base_url": good.base_url + "/v1", "models": [{"id": "gpt-fake"}]},
            {**provider, "name": "impostor", "base_url": bad.base_url + "/v1", "models": [{"id": "gpt-fake"}]},
        ],
        "api_keys": [{"name": "k", "key": API_KEY}],
    }
    gw = start_gateway(tmp_path_factory.mktemp("tls-gw"), config, env={"SSL_CERT_FILE": str(ca_file)})
    yield gw
    gw.stop()


def test_an_https_upstream_answers_whole_and_streamed_over_one_connection(
    tls_gw: GatewayProcess, upstreams: tuple[FakeOpenAI, FakeOpenAI, Path]
) -> None:
    good = upstreams[0]
    client = tls_gw.openai()
    whole = client.chat.completions.create(model="secure/gpt-fake", messages=[{"role": "user", "content": "tls"}])
    assert whole.choices[0].message.content == "Hello from gpt-fake. You said: tls"
    stream = client.chat.completions.create(
        model="secure/gpt-fake", messages=[{"role": "user", "content": "tls"}], stream=True
    )
    text = "".join(chunk.choices[0].delta.content or "" for chunk in stream if chunk.choices)
    assert text == "Hello from gpt-fake. You said: tls"
    seen = good.requests_for("/chat/completions")
    assert len(seen) == 2 and seen[0].headers["Authorization"] == "Bearer sk-up"
    assert seen[0].peer == seen[1].peer  # the verified connection was kept alive and reused


def test_an_untrusted_certificate_is_refused_before_anything_is_sent(
    tls_gw: GatewayProcess, upstreams: tuple[FakeOpenAI, FakeOpenAI, Path]
) -> None:
    bad = upstreams[1]
    client = tls_gw.openai()
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="impostor/gpt-fake", messages=[{"role": "user", "content": "secret"}])
    assert caught.value.status_code == 502
    assert "TLS" in caught.value.message and "certificate" in caught.value.message.lower()
    assert bad.received == []
