"""/ui/sso/start and /ui/sso/callback: sign in to the admin UI through an OpenID Connect provider.

Start keeps the sign-in's state, nonce and PKCE verifier in a signed, HttpOnly cookie scoped to
/ui/sso for ten minutes, and sends the browser to the provider; the callback checks the state
against that cookie, trades the code (with the verifier) for the ID token, checks it, and signs the
account it names in with the same session cookie a password sign-in gets.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import Request, Response, get
from litestar.datastructures import Cookie
from litestar.params import Parameter
from litestar.response import Redirect

from app.api.ui.login import login_page
from app.catalog.services.context import ServiceContext
from app.errors import NotFoundError
from app.runtime import Runtime
from app.ui_support.oidc import OidcClient, OidcError, Start
from app.ui_support.render import safe_next
from app.ui_support.session import SessionCodec, is_secure, login_csrf_cookie, session_cookie
from app.ui_support.sso_accounts import SsoRefused, account_for

__all__ = ["sso_callback", "sso_start"]

SSO_COOKIE = "polyroute_sso"
_AUDIENCE = "polyroute-sso"
_TTL_S = 600


def _oidc(rt: Runtime) -> OidcClient:
    if rt.oidc is None:
        raise NotFoundError("Single sign-on is not configured")
    return rt.oidc


def _redirect_uri(request: Request[Any, Any, Any]) -> str:
    scheme = "https" if is_secure(request) else request.url.scheme
    return f"{scheme}://{request.headers.get('host', request.url.netloc)}/ui/sso/callback"


def _cookie(value: str, *, secure: bool) -> Cookie:
    max_age = _TTL_S if value else 0
    return Cookie(
        key=SSO_COOKIE, value=value, max_age=max_age, path="/ui/sso", httponly=True, secure=secure, samesite="lax"
    )


@get("/sso/start", name="ui-sso-start")
async def sso_start(
    request: Request[Any, Any, Any], rt: Runtime, codec: SessionCodec, next: str | None = None
) -> Response[Any]:
    oidc = _oidc(rt)
    start = oidc.start(safe_next(next))
    try:
        target = await oidc.authorize_url(start, _redirect_uri(request))
    except OidcError as exc:
        return login_page(request, status=502, error=str(exc), next=start.next)
    sealed = codec.seal(
        {"st": start.state, "no": start.nonce, "ve": start.verifier, "nx": start.next}, _AUDIENCE, _TTL_S
    )
    response = Redirect(path=target, status_code=303)
    response.cookies.append(_cookie(sealed, secure=is_secure(request)))
    return response


@get("/sso/callback", name="ui-sso-callback")
async def sso_callback(
    request: Request[Any, Any, Any],
    rt: Runtime,
    ctx: ServiceContext,
    codec: SessionCodec,
    code: str | None = None,
    returned_state: Annotated[str | None, Parameter(query="state", max_length=200)] = None,
    error: Annotated[str | None, Parameter(max_length=200)] = None,
) -> Response[Any]:
    oidc = _oidc(rt)
    sealed = codec.unseal(request.cookies.get(SSO_COOKIE, ""), _AUDIENCE)
    if sealed is None or not returned_state or sealed.get("st") != returned_state:
        return login_page(request, status=400, error="That sign-in expired or was not started here; try again.")
    start = Start(sealed["st"], sealed["no"], sealed["ve"], safe_next(sealed.get("nx")))
    try:
        if error or not code:
            raise OidcError(f"The sign-in provider did not sign you in ({(error or 'no code')[:80]})")
        claims = await oidc.finish(code, start, _redirect_uri(request))
        user = await account_for(claims, rt.settings, ctx)
    except (OidcError, SsoRefused) as exc:
        refused = login_page(request, status=403, error=str(exc), next=start.next)
        refused.cookies.append(_cookie("", secure=is_secure(request)))
        return refused
    secure = is_secure(request)
    signed_in = Redirect(path=start.next, status_code=303)
    signed_in.cookies.append(session_cookie(codec.issue(user.id), secure=secure, max_age=codec.ttl_s))
    signed_in.cookies.append(_cookie("", secure=secure))
    signed_in.cookies.append(login_csrf_cookie("", secure=secure))
    return signed_in
