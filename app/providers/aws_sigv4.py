"""AWS Signature Version 4 for Bedrock runtime requests: pure, no I/O, no clock (the caller passes `now`).

What is signed, and why it is this small set: `host` (from the URL, with a non-default port, as the HTTP client
will send it), `x-amz-date`, `x-amz-security-token` (when a session token is given) and `content-type` (when the
request has one). Headers a proxy or the HTTP client may rewrite (user-agent, accept-encoding, connection) stay
unsigned, so a signature never breaks in transit. The payload hash goes into the canonical request but is not
sent as `x-amz-content-sha256`: botocore's `SigV4Auth` does not send it for `bedrock`, and the service does not
ask for it. The tests check the result against botocore, byte for byte.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from urllib.parse import quote, unquote, urlsplit

__all__ = ["AwsCredentials", "parse_credentials", "region_from_host", "sign"]

_ALGORITHM = "AWS4-HMAC-SHA256"
_DEFAULT_PORTS = {"http": 80, "https": 443}
_BEDROCK_HOST = re.compile(
    r"(?:vpce-[a-z0-9-]+\.)?bedrock-runtime(?:-fips)?\.([a-z]{2}(?:-[a-z]+)+-\d+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?"
)


@dataclass(frozen=True, slots=True)
class AwsCredentials:
    """An IAM access key pair, and the session token temporary (STS) credentials come with."""

    access_key: str
    secret_key: str
    session_token: str | None = None

    def __repr__(self) -> str:  # keep secrets out of logs and tracebacks
        return f"AwsCredentials(access_key={self.access_key!r}, secret_key='***', session_token=...)"


def parse_credentials(api_key: str) -> AwsCredentials | None:
    """Read the provider's single `api_key` field: a Bedrock API key (a bearer token) gives None;
    `ACCESS_KEY_ID:SECRET_ACCESS_KEY[:SESSION_TOKEN]` gives the credentials.

    Neither Bedrock API keys nor AWS secrets and session tokens contain a colon, so the colon decides.
    A value with a colon that is not two or three non-empty parts is a mistake, not a bearer token:
    ValueError, so the catalog can refuse it when the provider is saved rather than at the first request.
    """
    value = api_key.strip()
    if ":" not in value:
        return None
    parts = value.split(":")
    if len(parts) not in (2, 3) or not all(parts):
        raise ValueError("expected ACCESS_KEY_ID:SECRET_ACCESS_KEY or ACCESS_KEY_ID:SECRET_ACCESS_KEY:SESSION_TOKEN")
    return AwsCredentials(parts[0], parts[1], parts[2] if len(parts) == 3 else None)


def region_from_host(host: str) -> str | None:
    """The region in a Bedrock runtime host (public, FIPS, China or VPC endpoint); None for any other host."""
    host = host.strip().lower().rstrip(".")
    host = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    match = _BEDROCK_HOST.fullmatch(host)
    return match.group(1) if match else None


@lru_cache(maxsize=32)
def _signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The derived key: four HMACs that only change daily, so each (secret, day, region, service) is cached."""
    key = hmac.digest(("AWS4" + secret_key).encode(), date.encode(), "sha256")
    for part in (region, service, "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def _host(url_host: str | None, port: int | None, scheme: str) -> str:
    host = url_host or ""  # urlsplit lowercases it
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS.get(scheme):
        host = f"{host}:{port}"
    return host


def _canonical_uri(path: str) -> str:
    """The path as sent (each segment percent-encoded once), normalised and encoded once more.

    That second encoding is what SigV4 asks of every service but S3: a model id `...v1:0` is sent as
    `...v1%3A0` and signed as `...v1%253A0`. Dot segments and empty segments go, as botocore does.
    """
    segments: list[str] = []
    for segment in path.split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment and segment != ".":
            segments.append(segment)
    normalised = "/" + "/".join(segments)
    if path.endswith("/") and segments:
        normalised += "/"
    return quote(normalised, safe="/~")


def _canonical_query(query: str) -> str:
    """Each name and value percent-encoded per RFC 3986 (decoded first, so an encoded query is not double-encoded),
    sorted by name then value."""
    if not query:
        return ""
    pairs = []
    for pair in query.split("&"):
        name, _, value = pair.partition("=")
        pairs.append((quote(unquote(name), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def sign(
    method: str,
    url: str,
    headers: Mapping[str, str],
    body: bytes | None,
    *,
    access_key: str,
    secret_key: str,
    session_token: str | None,
    region: str,
    service: str,
    now: datetime,
) -> dict[str, str]:
    """The headers to add to the request: `authorization`, `x-amz-date`, and `x-amz-security-token` with a token.

    `url` must be the URL exactly as it will be sent (path segments already percent-encoded); `now` is read as
    UTC when it is naive. Only `content-type` is taken from `headers` (see the module docstring).
    """
    stamp = (now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)).strftime("%Y%m%dT%H%M%SZ")
    date = stamp[:8]
    parts = urlsplit(url)
    signed = {"host": _host(parts.hostname, parts.port, parts.scheme), "x-amz-date": stamp}
    if session_token:
        signed["x-amz-security-token"] = session_token
    content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), None)
    if content_type is not None:
        signed["content-type"] = content_type
    names = sorted(signed)
    signed_headers = ";".join(names)
    canonical_headers = "".join(f"{name}:{' '.join(signed[name].split())}\n" for name in names)
    canonical_request = "\n".join(
        (
            method.upper(),
            _canonical_uri(parts.path),
            _canonical_query(parts.query),
            canonical_headers,
            signed_headers,
            hashlib.sha256(body or b"").hexdigest(),
        )
    )
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = f"{_ALGORITHM}\n{stamp}\n{scope}\n{hashlib.sha256(canonical_request.encode()).hexdigest()}"
    signature = hmac.new(_signing_key(secret_key, date, region, service), string_to_sign.encode(), "sha256")
    added = {
        "authorization": (
            f"{_ALGORITHM} Credential={access_key}/{scope}, "
            f"SignedHeaders={signed_headers}, Signature={signature.hexdigest()}"
        ),
        "x-amz-date": stamp,
    }
    if session_token:
        added["x-amz-security-token"] = session_token
    return added
