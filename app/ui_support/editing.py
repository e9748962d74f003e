"""The save-or-show-errors step every create/edit form shares (with htmx: swap the form in place)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from litestar import Request, Response
from litestar.response import Template

from app.errors import ConflictError, ValidationFailedError
from app.ui_support.forms import errors_of
from app.ui_support.render import redirect

__all__ = ["save_or_redisplay"]

T = TypeVar("T")


async def save_or_redisplay(
    request: Request[Any, Any, Any],
    problems: dict[str, str],
    save: Callable[[], Awaitable[T]],
    redisplay: Callable[[dict[str, str], int], Template],
    done: Callable[[T], tuple[str, str]],
) -> Response[Any]:
    """Run `save` unless the form already found problems; a 422/409 from the service goes back inline.

    `done(saved)` gives the page to go to and the success message shown there.
    """
    if problems:
        return redisplay(problems, 422)
    try:
        saved = await save()
    except (ValidationFailedError, ConflictError) as exc:
        return redisplay(errors_of(exc), exc.status_code)
    url, message = done(saved)
    return redirect(request, url, ("success", message))
