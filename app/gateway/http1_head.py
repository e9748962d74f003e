"""The head of an upstream request as it goes on the wire: request line, Host, the caller's headers
(checked: none may split the head), ours last. Pure; app.gateway.http1 sends it."""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import NamedTuple
from urllib.parse import urlsplit

__all__ = ["Origin", "request_head"]

_SET_BY_CLIENT = frozenset(
    {"host", "content-length", "transfer-encoding", "connection", "accept-encoding", "expect", "keep-alive", "te"}
)
"""Ours to set (or, for `expect`, never to promise: the body always follows the head at once)."""
_ACCEPT_ENCODING = "gzip, deflate"
"""What we can decode (aiohttp sent the same). A caller's own Accept-Encoding (br, zstd) is replaced."""


class Origin(NamedTuple):
    """Where a connection goes: what a pooled connection is kept for."""

    tls: bool
    host: str
    port: int


class _Target(NamedTuple):
    origin: Origin
    path: str
    host_header: str


@lru_cache(maxsize=1024)
def _target(url: str) -> _Target:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"not an http(s) URL: {url!r}")
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    host = parts.hostname
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == (443 if tls else 80) else f"{shown}:{port}"
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return _Target(Origin(tls, host, port), path, host_header)


def request_head(method: str, url: str, headers: Mapping[str, str], body: bytes | None) -> tuple[Origin, bytes]:
    """The request line and headers, as sent; raises ValueError on a URL that is not http(s) or a header
    that would split the head."""
    target = _target(url)
    lines = [f"{method} {target.path} HTTP/1.1\r\nHost: {target.host_header}\r\n"]
    for name, value in headers.items():
        if name.lower() in _SET_BY_CLIENT:
            continue
        if "\n" in value or "\r" in value or "\n" in name or "\r" in name or ":" in name:
            raise ValueError(f"invalid header {name!r}")
        lines.append(f"{name}: {value}\r\n")
    lines.append(f"Accept-Encoding: {_ACCEPT_ENCODING}\r\n")
    if body is not None or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body) if body else 0}\r\n")
    lines.append("\r\n")
    return target.origin, "".join(lines).encode("utf-8")
