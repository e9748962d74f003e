"""/ui/: each viewer's start page (the dashboard for admins, the account overview for users)."""

from __future__ import annotations

from litestar import get
from litestar.response import Redirect

from app.ui_support.session import Viewer

__all__ = ["home"]


@get("/", name="ui-home", sync_to_thread=False)
def home(viewer: Viewer) -> Redirect:
    return Redirect(path="/ui/dashboard" if viewer.is_admin else "/ui/account", status_code=303)
