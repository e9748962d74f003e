"""Service-account key files and the JWT-bearer token request built from them."""

from __future__ import annotations

import json
from urllib.parse import parse_qs

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from app.providers.google_auth import SCOPE, parse_service_account, read_token, token_request

KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PEM = KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
).decode()
FILE = {
    "type": "service_account",
    "project_id": "p",
    "private_key_id": "kid-1",
    "private_key": PEM,
    "client_email": "sa@p.iam.gserviceaccount.com",
    "token_uri": "https://oauth2.googleapis.com/token",
}


def test_a_key_file_is_read_and_anything_else_is_not_an_account() -> None:
    account = parse_service_account(" " + json.dumps(FILE))
    assert account is not None and account.client_email == "sa@p.iam.gserviceaccount.com"
    assert PEM not in repr(account)
    assert parse_service_account("AIzaSyExpressModeKey") is None
    assert parse_service_account("ya29.a0AfH6SM") is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"type": "authorized_user"}, "not 'service_account'"),
        ({"private_key": "not a key"}, "not a PEM key"),
        ({"token_uri": "http://evil.example/token"}, "https URL"),
        ({"client_email": 5}, "client_email"),
    ],
)
def test_a_broken_key_file_is_refused_without_echoing_it(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message) as raised:
        parse_service_account(json.dumps({**FILE, **change}))
    assert "PRIVATE KEY" not in str(raised.value)
    with pytest.raises(ValueError, match="client_email"):
        parse_service_account(json.dumps({k: v for k, v in FILE.items() if k != "client_email"}))


def test_the_token_request_carries_a_verifiable_assertion() -> None:
    account = parse_service_account(json.dumps(FILE))
    assert account is not None
    req = token_request(account, now=1_800_000_000)
    assert (req.method, req.url) == ("POST", "https://oauth2.googleapis.com/token")
    form = parse_qs((req.body or b"").decode())
    assert form["grant_type"] == ["urn:ietf:params:oauth:grant-type:jwt-bearer"]
    assertion = form["assertion"][0]
    assert jwt.get_unverified_header(assertion)["kid"] == "kid-1"
    claims = jwt.decode(
        assertion,
        KEY.public_key(),
        algorithms=["RS256"],
        audience="https://oauth2.googleapis.com/token",
        options={"verify_exp": False, "verify_iat": False},
    )
    assert claims == {
        "iss": "sa@p.iam.gserviceaccount.com",
        "scope": SCOPE,
        "aud": "https://oauth2.googleapis.com/token",
        "iat": 1_800_000_000,
        "exp": 1_800_003_600,
    }


def test_token_answers() -> None:
    assert read_token(200, b'{"access_token":"ya29.x","expires_in":3599,"token_type":"Bearer"}') == ("ya29.x", 3599.0)
    assert read_token(200, b'{"access_token":"ya29.x"}') == ("ya29.x", 3600.0)
    with pytest.raises(ValueError, match="Invalid JWT Signature"):
        read_token(400, b'{"error":"invalid_grant","error_description":"Invalid JWT Signature."}')
    with pytest.raises(ValueError, match="without JSON"):
        read_token(502, b"<html>bad gateway</html>")
