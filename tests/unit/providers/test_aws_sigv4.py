"""SigV4 signing checked byte for byte against botocore's SigV4Auth, plus credentials and region parsing."""

from __future__ import annotations

from datetime import UTC, datetime

import botocore.auth  # type: ignore[import-untyped]
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest  # type: ignore[import-untyped]
from botocore.credentials import Credentials  # type: ignore[import-untyped]

from app.providers.aws_sigv4 import (
    AwsCredentials,
    _canonical_uri,
    _signing_key,
    parse_credentials,
    region_from_host,
    sign,
)

NOW = datetime(2025, 10, 7, 13, 45, 9, tzinfo=UTC)
AK, SK = "AKIAIOSFODNN7EXAMPLE", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
TOKEN = "IQoJb3JpZ2luX2VjEJr//////////wEaCXVzLWVhc3QtMSJHMEUCIQD6Example+Token=="
MODEL_PATH = "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%3A0"
BODY = b'{"anthropic_version":"bedrock-2023-05-31","max_tokens":64,"messages":[{"role":"user","content":"Hi"}]}'
JSON = {"content-type": "application/json"}


def botocore_sign(
    monkeypatch: pytest.MonkeyPatch, method: str, url: str, headers: dict[str, str], body: bytes | None, **kw: str
) -> dict[str, str]:
    """What botocore's SigV4Auth adds for service `bedrock`, at NOW."""
    monkeypatch.setattr(botocore.auth, "get_current_datetime", lambda *a, **k: NOW.replace(tzinfo=None))
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers))
    credentials = Credentials(AK, SK, kw.get("token"))
    SigV4Auth(credentials, "bedrock", kw.get("region", "us-east-1")).add_auth(request)
    return dict(request.headers)


CASES = [
    pytest.param(
        "POST", f"https://bedrock-runtime.us-east-1.amazonaws.com{MODEL_PATH}/invoke", JSON, BODY, None, id="invoke"
    ),
    pytest.param(
        "POST",
        f"https://bedrock-runtime.us-east-1.amazonaws.com{MODEL_PATH}/invoke-with-response-stream",
        {"Content-Type": "application/json", "Accept": "application/vnd.amazon.eventstream"},
        BODY,
        TOKEN,
        id="stream-session-token",
    ),
    pytest.param(
        "POST",
        "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke?zeta=1&alpha=b%20c&alpha=a&tilde=~x&slash=%2F&e=",
        JSON,
        BODY,
        None,
        id="query-string",
    ),
    pytest.param("POST", f"http://127.0.0.1:54321{MODEL_PATH}/invoke", JSON, BODY, None, id="non-default-port"),
    pytest.param(
        "POST", f"https://Bedrock-Runtime.us-east-1.amazonaws.com:443{MODEL_PATH}/invoke", JSON, b"", TOKEN, id="443"
    ),
    pytest.param("GET", "https://bedrock.us-east-1.amazonaws.com/foundation-models", {}, None, None, id="get-no-body"),
    pytest.param(
        "POST", "https://bedrock-runtime.us-east-1.amazonaws.com/model/./a//b/../x/invoke/", JSON, BODY, None, id="dots"
    ),
]


@pytest.mark.parametrize(("method", "url", "headers", "body", "token"), CASES)
def test_sign_matches_botocore(
    monkeypatch: pytest.MonkeyPatch, method: str, url: str, headers: dict[str, str], body: bytes | None, token: str
) -> None:
    ours = sign(
        method,
        url,
        headers,
        body,
        access_key=AK,
        secret_key=SK,
        session_token=token,
        region="us-east-1",
        service="bedrock",
        now=NOW,
    )
    # botocore signs every header it is given: give it the ones we sign (content-type) and compare.
    signed = {k: v for k, v in headers.items() if k.lower() == "content-type"}
    theirs = botocore_sign(monkeypatch, method, url, signed, body, **({"token": token} if token else {}))
    assert ours["authorization"] == theirs["Authorization"]
    assert ours["x-amz-date"] == theirs["X-Amz-Date"] == "20251007T134509Z"
    assert ours.get("x-amz-security-token") == theirs.get("X-Amz-Security-Token") == token
    assert "X-Amz-Content-SHA256" not in theirs  # botocore sends no payload hash header for bedrock; nor do we
    assert set(ours) == {"authorization", "x-amz-date"} | ({"x-amz-security-token"} if token else set())


def test_signed_headers_are_the_documented_set() -> None:
    out = sign(
        "POST",
        f"http://127.0.0.1:54321{MODEL_PATH}/invoke",
        {"Content-Type": "application/json", "User-Agent": "x", "Accept": "*/*"},
        BODY,
        access_key=AK,
        secret_key=SK,
        session_token=TOKEN,
        region="eu-west-3",
        service="bedrock",
        now=NOW,
    )
    assert out["authorization"].startswith(
        f"AWS4-HMAC-SHA256 Credential={AK}/20251007/eu-west-3/bedrock/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date;x-amz-security-token, Signature="
    )


def test_naive_and_other_zone_times_are_utc() -> None:
    def auth(now: datetime) -> str:
        return sign(
            "GET",
            "https://h/",
            {},
            None,
            access_key=AK,
            secret_key=SK,
            session_token=None,
            region="r",
            service="s",
            now=now,
        )["authorization"]

    from datetime import timedelta, timezone

    assert auth(NOW) == auth(NOW.replace(tzinfo=None)) == auth(NOW.astimezone(timezone(timedelta(hours=-7))))
    assert auth(NOW) != auth(NOW + timedelta(seconds=1))


def test_canonical_uri_encodes_the_model_id_twice() -> None:
    assert _canonical_uri(f"{MODEL_PATH}/invoke") == "/model/us.anthropic.claude-sonnet-4-5-20250929-v1%253A0/invoke"
    assert _canonical_uri("") == "/"
    assert _canonical_uri("/a b/~c/") == "/a%20b/~c/"


def test_aws_published_example() -> None:
    """AWS's SigV4 documentation example (IAM ListUsers, 2015-08-30), signing key and signature."""
    secret = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
    key = _signing_key(secret, "20150830", "us-east-1", "iam")
    assert key.hex() == "c4afb1cc5771d871763a393e44b703571b55cc28424d1a5e86da6ed3c154a4b9"
    out = sign(
        "GET",
        "https://iam.amazonaws.com/?Action=ListUsers&Version=2010-05-08",
        {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"},
        None,
        access_key="AKIDEXAMPLE",
        secret_key=secret,
        session_token=None,
        region="us-east-1",
        service="iam",
        now=datetime(2015, 8, 30, 12, 36, 0, tzinfo=UTC),
    )
    assert out["authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, "
        "SignedHeaders=content-type;host;x-amz-date, "
        "Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
    )


def test_signing_key_is_cached() -> None:
    _signing_key("cache-test-secret", "20251007", "us-east-1", "bedrock")
    hits = _signing_key.cache_info().hits
    for _ in range(3):
        sign(
            "POST",
            "https://bedrock-runtime.us-east-1.amazonaws.com/model/x/invoke",
            JSON,
            BODY,
            access_key=AK,
            secret_key="cache-test-secret",
            session_token=None,
            region="us-east-1",
            service="bedrock",
            now=NOW,
        )
    assert _signing_key.cache_info().hits == hits + 3
    assert _signing_key.cache_info().maxsize is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("ABSKQmVkcm9ja0FQSUtleS1leGFtcGxlPT0=", None),
        ("bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29tLz9BY3Rpb249Q2FsbFdpdGhCZWFyZXJUb2tlbg==", None),
        (f"{AK}:{SK}", AwsCredentials(AK, SK, None)),
        (f"{AK}:{SK}:{TOKEN}", AwsCredentials(AK, SK, TOKEN)),
        (f"  {AK}:{SK}\n", AwsCredentials(AK, SK, None)),
    ],
)
def test_parse_credentials(value: str, expected: AwsCredentials | None) -> None:
    assert parse_credentials(value) == expected


@pytest.mark.parametrize("value", [f"{AK}:", f":{SK}", f"{AK}::{TOKEN}", f"{AK}:{SK}:{TOKEN}:extra"])
def test_parse_credentials_refuses_malformed_pairs(value: str) -> None:
    with pytest.raises(ValueError, match="ACCESS_KEY_ID:SECRET_ACCESS_KEY"):
        parse_credentials(value)


def test_credentials_repr_hides_the_secrets() -> None:
    text = repr(AwsCredentials(AK, SK, TOKEN))
    assert AK in text
    assert SK not in text
    assert TOKEN not in text


@pytest.mark.parametrize(
    ("host", "region"),
    [
        ("bedrock-runtime.us-east-1.amazonaws.com", "us-east-1"),
        ("bedrock-runtime-fips.us-west-2.amazonaws.com", "us-west-2"),
        ("vpce-0abc-123.bedrock-runtime.eu-west-1.vpce.amazonaws.com", "eu-west-1"),
        ("vpce-0a1b2c3d4e5f-abcdefgh-us-east-1a.bedrock-runtime.us-east-1.vpce.amazonaws.com", "us-east-1"),
        ("BEDROCK-RUNTIME.AP-SOUTHEAST-2.AMAZONAWS.COM", "ap-southeast-2"),
        ("bedrock-runtime.us-gov-west-1.amazonaws.com", "us-gov-west-1"),
        ("bedrock-runtime.cn-north-1.amazonaws.com.cn", "cn-north-1"),
        ("bedrock-runtime.eu-central-1.amazonaws.com:443", "eu-central-1"),
        ("bedrock.us-east-1.amazonaws.com", None),
        ("bedrock-runtime.us-east-1.amazonaws.com.evil.example", None),
        ("evil-bedrock-runtime.us-east-1.amazonaws.com", None),
        ("api.anthropic.com", None),
        ("127.0.0.1", None),
        ("", None),
    ],
)
def test_region_from_host(host: str, region: str | None) -> None:
    assert region_from_host(host) == region
