"""A fake Google Vertex AI project: Gemini and Claude models, and the OAuth token endpoint a service account uses.

Routes (`{prefix}` = `/v1/projects/{project}/locations/{location}`):

  POST {prefix}/publishers/google/models/{model}:generateContent | :streamGenerateContent?alt=sse
                                  FakeGemini's answers, behaviours and request rules
  POST {prefix}/publishers/google/models/{model}:predict
                                  embeddings: `instances` of `{content}`, `parameters.outputDimensionality`;
                                  each prediction's `statistics.token_count` is the words plus one
  POST {prefix}/publishers/anthropic/models/{model}:rawPredict | :streamRawPredict
                                  FakeAnthropic's (`claude`), after Vertex's own rules: no `model` in the
                                  body, `anthropic_version: vertex-2023-10-16`, `stream` matching the method
  POST {prefix}/publishers/anthropic/models/count-tokens:rawPredict
                                  FakeAnthropic's count (1000 + characters), the model named in the body
  GET  {prefix}/models            the project's models (empty): what a probe lists
  POST /token                     the JWT-bearer grant: the assertion is verified against the service
                                  account's public key (RS256, `aud` this URL, `iss` the account, scope
                                  cloud-platform, at most an hour); answers `ya29.fake-N`

Every model route needs `Authorization: Bearer <a token this fake issued and that has not expired>` or, Vertex's
express mode, `x-goog-api-key: <api_key>`; otherwise 401 in Google's error shape. `token_lifetime_s` sets the
tokens' `expires_in`; `refuse_tokens` makes the token endpoint answer `invalid_grant`. `key_file()` is the
service account's JSON key file, pointing at this fake's token endpoint.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

import jwt
from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tests.fakes.anthropic import FakeAnthropic
from tests.fakes.gemini import FakeGemini, GeminiRejection, error_body, fake_vector

__all__ = ["PROJECT_PREFIX", "FakeVertex"]

PROJECT_PREFIX = "/v1/projects/fake-project/locations/us-east5"
_PREFIX = "/v1/projects/{project}/locations/{location}"
_CLIENT_EMAIL = "polyroute-test@fake-project.iam.gserviceaccount.com"
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _google_error(status: int, message: str, reason: str) -> web.Response:
    return web.json_response({"error": {"code": status, "message": message, "status": reason}}, status=status)


@dataclass
class FakeVertex(FakeGemini):
    api_key: str | None = "vertex-express-key"
    token_lifetime_s: int = 3599
    refuse_tokens: bool = False
    claude: FakeAnthropic = field(default_factory=FakeAnthropic)
    issued: dict[str, float] = field(default_factory=dict)
    """Access tokens issued, with when each expires."""
    token_requests: int = 0
    counted: list[dict[str, Any]] = field(default_factory=list)
    """The bodies `count-tokens:rawPredict` received."""

    @property
    def base(self) -> str:
        """A provider's base URL for this fake's project and location."""
        return self.base_url + PROJECT_PREFIX

    def key_file(self, private_key: rsa.RSAPrivateKey | None = None, key_id: str = "0123456789abcdef") -> str:
        """The service account's key file; another `private_key` makes one Google would not accept."""
        pem = (private_key or _KEY).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        return json.dumps(
            {
                "type": "service_account",
                "project_id": "fake-project",
                "private_key_id": key_id,
                "private_key": pem.decode(),
                "client_email": _CLIENT_EMAIL,
                "client_id": "1234567890",
                "token_uri": self.base_url + "/token",
            }
        )

    def routes(self, app: web.Application) -> None:
        app.router.add_post(_PREFIX + "/publishers/google/models/{target}", self.call)
        app.router.add_post(_PREFIX + "/publishers/anthropic/models/{target}", self.raw_predict)
        app.router.add_get(_PREFIX + "/models", self.project_models)
        app.router.add_post("/token", self.token)

    def reset(self) -> None:
        super().reset()
        self.claude.reset()
        self.counted.clear()
        self.refuse_tokens = False
        self.token_lifetime_s = 3599

    # -- auth ----------------------------------------------------------------------------------------------
    async def token(self, request: web.Request) -> web.Response:
        self.token_requests += 1
        form = parse_qs((await request.read()).decode())
        if form.get("grant_type") != ["urn:ietf:params:oauth:grant-type:jwt-bearer"]:
            return web.json_response({"error": "unsupported_grant_type"}, status=400)
        try:
            claims = jwt.decode(
                form.get("assertion", [""])[0],
                _KEY.public_key(),
                algorithms=["RS256"],
                audience=self.base_url + "/token",
                issuer=_CLIENT_EMAIL,
                options={"require": ["exp", "iat", "iss", "aud"]},
            )
        except jwt.PyJWTError as exc:
            return web.json_response({"error": "invalid_grant", "error_description": f"Invalid JWT: {exc}"}, status=400)
        if (
            claims.get("scope") != "https://www.googleapis.com/auth/cloud-platform"
            or claims["exp"] - claims["iat"] > 3600
        ):
            return web.json_response(
                {"error": "invalid_scope", "error_description": "Bad scope or lifetime"}, status=400
            )
        if self.refuse_tokens:
            return web.json_response(
                {"error": "invalid_grant", "error_description": "Invalid JWT Signature."}, status=400
            )
        token = f"ya29.fake-{len(self.issued) + 1}"
        self.issued[token] = time.time() + self.token_lifetime_s
        return web.json_response({"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"})

    def _authorize(self, request: web.Request) -> None:
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            expires = self.issued.get(bearer[7:])
            if expires is None or expires < time.time():
                raise GeminiRejection(
                    "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                    "or other valid authentication credential.",
                    401,
                )
            return
        if self.api_key is not None and request.headers.get("x-goog-api-key") == self.api_key:
            return
        raise GeminiRejection("The request is missing a valid API key.", 401)

    # -- routes ------------------------------------------------------------------------------------------
    async def call(self, request: web.Request) -> web.StreamResponse:
        """Gemini's methods, and `:predict`, Vertex's way to embed (text-embedding-005, gemini-embedding-001)."""
        model, _, method = request.match_info["target"].rpartition(":")
        if method != "predict":
            return await super().call(request)
        try:
            self._authorize(request)
        except GeminiRejection as exc:
            return _google_error(exc.status, exc.message, "UNAUTHENTICATED")
        b = self.next_behaviour(model) or {}
        if "status" in b:
            return _google_error(int(b["status"]), str(b.get("message") or "fake failure"), "UNAVAILABLE")
        try:
            doc: Any = json.loads(await request.read())
        except ValueError:
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        instances = doc.get("instances") if isinstance(doc, dict) else None
        if not isinstance(instances, list) or not instances or len(instances) > 250:
            return _google_error(400, "instances: 1 to 250 are required", "INVALID_ARGUMENT")
        if not all(
            isinstance(i, dict) and isinstance(i.get("content"), str) and set(i) <= {"content", "task_type", "title"}
            for i in instances
        ):
            return _google_error(400, "instances[]: each needs a string content", "INVALID_ARGUMENT")
        size = int((doc.get("parameters") or {}).get("outputDimensionality") or 8)
        predictions = [
            {
                "embeddings": {
                    "values": fake_vector(i["content"], size),
                    "statistics": {"truncated": False, "token_count": len(i["content"].split()) + 1},
                }
            }
            for i in instances
        ]
        billable = sum(len(i["content"]) for i in instances)
        return web.json_response({"predictions": predictions, "metadata": {"billableCharacterCount": billable}})

    async def project_models(self, request: web.Request) -> web.Response:
        try:
            self._authorize(request)
        except GeminiRejection as exc:
            return web.json_response(error_body(exc.status, exc.message), status=exc.status)
        return web.json_response({})

    async def raw_predict(self, request: web.Request) -> web.StreamResponse:
        model, _, method = request.match_info["target"].rpartition(":")
        try:
            self._authorize(request)
        except GeminiRejection as exc:
            return _google_error(exc.status, exc.message, "UNAUTHENTICATED")
        if method not in ("rawPredict", "streamRawPredict"):
            return _google_error(404, f"Method not found: {method}", "NOT_FOUND")
        try:
            doc: Any = json.loads(await request.read())
        except ValueError:
            return _google_error(400, "Invalid JSON payload received.", "INVALID_ARGUMENT")
        if model == "count-tokens" and isinstance(doc, dict):  # one endpoint for every model, named in the body
            self.counted.append(doc)
            return self.claude.count(doc)
        if not isinstance(doc, dict) or "model" in doc:
            return _google_error(400, "model: Extra inputs are not permitted", "INVALID_ARGUMENT")
        if doc.get("anthropic_version") != "vertex-2023-10-16":
            return _google_error(400, "anthropic_version: must be vertex-2023-10-16", "INVALID_ARGUMENT")
        if bool(doc.get("stream")) != (method == "streamRawPredict"):
            return _google_error(400, f"stream must be {method == 'streamRawPredict'} for {method}", "INVALID_ARGUMENT")
        # FakeAnthropic's rules and answers, its header checks aside (Vertex's auth is the token above).
        body = {k: v for k, v in doc.items() if k != "anthropic_version"}
        return await self.claude.answer(request, {**body, "model": model})
