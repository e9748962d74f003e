"""OpenID Connect for the admin UI: the authorization code flow with PKCE, and the ID token checked.

The provider's discovery document and signing keys are fetched on first use and kept; an ID token
signed by a key we do not know yet (the provider rotated) fetches the keys once more. The ID token
must be signed by one of those keys, issued by the configured issuer for our client id, unexpired,
and carry the nonce this sign-in started with.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import httpx
import jwt

from app.settings import Settings
from app.tasks.outbound import outbound_client

__all__ = ["OidcClient", "OidcError", "Start", "pkce_challenge"]

_ALGORITHMS = ["RS256", "RS384", "RS512", "PS256", "ES256", "ES384", "EdDSA"]
_LEEWAY_S = 60


class OidcError(Exception):
    """The provider refused, or answered something we cannot trust; the message is safe to show."""


@dataclass(frozen=True, slots=True)
class Start:
    """What a sign-in keeps (in a signed cookie) between leaving for the provider and coming back."""

    state: str
    nonce: str
    verifier: str
    next: str


def pkce_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode()).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


class OidcClient:
    def __init__(self, settings: Settings, client: httpx.AsyncClient | None = None) -> None:
        if not (settings.oidc_issuer and settings.oidc_client_id):
            raise ValueError("single sign-on needs POLYROUTE_OIDC_ISSUER and POLYROUTE_OIDC_CLIENT_ID")
        self.issuer = settings.oidc_issuer.rstrip("/")
        self.client_id = settings.oidc_client_id
        self._secret = settings.oidc_client_secret
        self.scopes = settings.oidc_scopes
        self._http = client or outbound_client(timeout=10.0, follow_redirects=False)
        self._discovery: dict[str, Any] | None = None
        self._keys: dict[str, jwt.PyJWK] = {}

    async def close(self) -> None:
        await self._http.aclose()

    async def _get(self, url: str) -> dict[str, Any]:
        try:
            resp = await self._http.get(url)
        except httpx.HTTPError as exc:
            raise OidcError(f"The sign-in provider is unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OidcError(f"The sign-in provider answered {resp.status_code} for {url}")
        doc: dict[str, Any] = resp.json()
        return doc

    async def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            doc = await self._get(f"{self.issuer}/.well-known/openid-configuration")
            if str(doc.get("issuer", "")).rstrip("/") != self.issuer:
                raise OidcError("The sign-in provider's discovery document names another issuer")
            self._discovery = doc
        return self._discovery

    def start(self, next_path: str) -> Start:
        return Start(secrets.token_urlsafe(24), secrets.token_urlsafe(24), secrets.token_urlsafe(48), next_path)

    async def authorize_url(self, start: Start, redirect_uri: str) -> str:
        endpoint = (await self.discovery())["authorization_endpoint"]
        query = {
            "response_type": "code",
            "client_id": self.client_id,
            "redirect_uri": redirect_uri,
            "scope": self.scopes,
            "state": start.state,
            "nonce": start.nonce,
            "code_challenge": pkce_challenge(start.verifier),
            "code_challenge_method": "S256",
        }
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{urlencode(query)}"

    async def _key(self, kid: str | None) -> jwt.PyJWK:
        for attempt in range(2):  # an unknown kid: the provider may have rotated its keys
            if kid in self._keys or (kid is None and len(self._keys) == 1):
                return self._keys[kid] if kid is not None else next(iter(self._keys.values()))
            if attempt == 0:
                jwks = await self._get((await self.discovery())["jwks_uri"])
                self._keys = {
                    str(k.get("kid")): jwt.PyJWK(k) for k in jwks.get("keys", []) if k.get("use", "sig") == "sig"
                }
        raise OidcError("The ID token is signed with a key the sign-in provider does not publish")

    async def finish(self, code: str, start: Start, redirect_uri: str) -> dict[str, Any]:
        """Trade the code for tokens and return the ID token's checked claims."""
        doc = await self.discovery()
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": start.verifier,
            "client_id": self.client_id,
        }
        auth = (self.client_id, self._secret) if self._secret else None
        try:
            resp = await self._http.post(doc["token_endpoint"], data=form, auth=auth or httpx.USE_CLIENT_DEFAULT)
        except httpx.HTTPError as exc:
            raise OidcError(f"The sign-in provider is unreachable ({type(exc).__name__})") from None
        if resp.status_code != 200:
            raise OidcError(f"The sign-in provider refused the sign-in code ({resp.status_code})")
        token = resp.json().get("id_token")
        if not isinstance(token, str):
            raise OidcError("The sign-in provider sent no ID token")
        return await self._claims(token, start.nonce)

    async def _claims(self, token: str, nonce: str) -> dict[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
            key = await self._key(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=_ALGORITHMS,
                audience=self.client_id,
                issuer=(await self.discovery())["issuer"],
                leeway=_LEEWAY_S,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.InvalidTokenError as exc:
            raise OidcError(f"The ID token was not accepted: {exc}") from None
        if claims.get("nonce") != nonce:
            raise OidcError("The ID token belongs to another sign-in (nonce)")
        if claims["iat"] > time.time() + _LEEWAY_S:
            raise OidcError("The ID token was issued in the future")
        return claims
