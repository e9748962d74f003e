"""A fake OpenID Connect provider: discovery, an authorize endpoint that signs in whoever the test
names, a token endpoint that checks the code, client secret and PKCE verifier, and its JWKS.

`user` holds the claims the next sign-in gets; `tamper` makes the next ID token wrong in one way
(`aud`, `iss`, `expired`, `nonce`, `signature`, `kid`) so the gateway's checks can be seen refusing it.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.server import FakeServer

__all__ = ["FakeOidc"]

CLIENT_ID = "polyroute-ui"
CLIENT_SECRET = "oidc-client-secret-0123456789"


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class FakeOidc(FakeServer):
    user: dict[str, Any] = field(default_factory=lambda: {"sub": "u1", "email": "ann@corp.example"})
    tamper: str | None = None
    signing_key: rsa.RSAPrivateKey = field(default_factory=_key)
    kid: str = "key-1"
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    token_calls: int = 0

    @property
    def issuer(self) -> str:
        return self.base_url

    def routes(self, app: web.Application) -> None:
        app.router.add_get("/.well-known/openid-configuration", self.discovery)
        app.router.add_get("/authorize", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/jwks", self.jwks)

    async def discovery(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "issuer": self.issuer,
                "authorization_endpoint": f"{self.issuer}/authorize",
                "token_endpoint": f"{self.issuer}/token",
                "jwks_uri": f"{self.issuer}/jwks",
                "response_types_supported": ["code"],
                "id_token_signing_alg_values_supported": ["RS256"],
            }
        )

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        if (
            q.get("client_id") != CLIENT_ID
            or q.get("response_type") != "code"
            or q.get("code_challenge_method") != "S256"
        ):
            return web.Response(status=400, text="bad authorization request")
        if "openid" not in q.get("scope", "").split():
            return web.Response(status=400, text="openid scope missing")
        code = secrets.token_urlsafe(16)
        self.codes[code] = {
            "claims": dict(self.user),
            "nonce": q["nonce"],
            "redirect_uri": q["redirect_uri"],
            "challenge": q["code_challenge"],
        }
        target = f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q['state']})}"
        return web.Response(status=302, headers={"Location": target})

    async def token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        form = await request.post()
        expected = "Basic " + base64.b64encode(f"{CLIENT_ID}:{CLIENT_SECRET}".encode()).decode()
        if request.headers.get("Authorization") != expected:
            return web.json_response({"error": "invalid_client"}, status=401)
        grant = self.codes.pop(str(form.get("code")), None)  # a code works once
        if grant is None or form.get("redirect_uri") != grant["redirect_uri"]:
            return web.json_response({"error": "invalid_grant"}, status=400)
        digest = hashlib.sha256(str(form.get("code_verifier")).encode()).digest()
        if base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]:
            return web.json_response({"error": "invalid_grant", "error_description": "PKCE"}, status=400)
        return web.json_response({"access_token": "at", "token_type": "Bearer", "id_token": self._id_token(grant)})

    def _id_token(self, grant: dict[str, Any]) -> str:
        now = int(time.time())
        claims = {"iss": self.issuer, "aud": CLIENT_ID, "iat": now, "exp": now + 300, "nonce": grant["nonce"]}
        claims |= grant["claims"]
        key, kid, tamper = self.signing_key, self.kid, self.tamper
        self.tamper = None
        if tamper == "aud":
            claims["aud"] = "someone-else"
        elif tamper == "iss":
            claims["iss"] = "https://evil.example"
        elif tamper == "expired":
            claims |= {"iat": now - 7200, "exp": now - 3600}
        elif tamper == "nonce":
            claims["nonce"] = "another-sign-in"
        elif tamper == "signature":
            key = _key()  # same kid, wrong key
        elif tamper == "kid":
            kid = "unknown-key"
        return jwt.encode(claims, key, algorithm="RS256", headers={"kid": kid})

    async def jwks(self, request: web.Request) -> web.Response:
        public = jwt.algorithms.RSAAlgorithm.to_jwk(self.signing_key.public_key(), as_dict=True)
        return web.json_response({"keys": [{**public, "kid": self.kid, "use": "sig", "alg": "RS256"}]})
