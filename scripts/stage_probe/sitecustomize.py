"""Stage stamps for scripts/bench_stages.py, loaded into the served process through PYTHONPATH.

Python imports `sitecustomize` at start-up; this one does nothing unless POLYROUTE_STAGE_PROBE names
a file. Then it wraps a few methods of uvicorn, the upstream client and (in the gateway) the pipeline
so each records (stage, perf_counter_ns) as a request passes, and writes them to that file on
SIGUSR1. Wrapping costs ~0.3 µs per stamp; nothing else changes.

With POLYROUTE_CALL_CENSUS naming a file instead (scripts/bench_calls.py), SIGUSR2 turns a
`sys.setprofile` hook on in the main thread (the event loop's), counting every Python and C function
entered, and the next SIGUSR2 turns it off and writes "count<TAB>name<TAB>file:line" lines, most
entered first. Development only: never set either variable in production.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import Any

_OUT = os.environ.get("POLYROUTE_STAGE_PROBE")
_EVENTS: list[tuple[str, int]] = []


def _stamp(name: str) -> None:
    _EVENTS.append((name, time.perf_counter_ns()))


def _dump(signum: int = 0, frame: object = None) -> None:
    assert _OUT is not None
    with open(_OUT + ".tmp", "w") as f:
        f.writelines(f"{name} {at}\n" for name, at in _EVENTS)
    os.replace(_OUT + ".tmp", _OUT)


def _before(cls: Any, method: str, name: str) -> None:
    original: Callable[..., Any] = getattr(cls, method)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        _stamp(name)
        return original(*args, **kwargs)

    setattr(cls, method, wrapped)


def _around_async(cls: Any, method: str, before: str, after: str | None = None) -> None:
    original: Callable[..., Any] = getattr(cls, method)

    async def wrapped(*args: Any, **kwargs: Any) -> Any:
        _stamp(before)
        try:
            return await original(*args, **kwargs)
        finally:
            if after is not None:
                _stamp(after)

    setattr(cls, method, wrapped)


def _server_send(cls: Any) -> None:
    """`reply` when the response head goes to the server, `written` once its last body part has."""
    original: Callable[..., Any] = cls.send

    async def send(self: Any, message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            _stamp("reply")
        await original(self, message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            _stamp("written")

    cls.send = send


def _install() -> None:
    sys.path.insert(0, os.getcwd())  # the served tree's `app` package (the bench starts it from there)
    from uvicorn.protocols.http import httptools_impl

    from app.gateway import http1

    _before(httptools_impl.HttpToolsProtocol, "data_received", "arrive")
    _around_async(httptools_impl.RequestResponseCycle, "run_asgi", "app", "done")
    _server_send(httptools_impl.RequestResponseCycle)
    _around_async(http1.Connection, "exchange", "send")
    _before(http1.Connection, "data_received", "upstream")
    if os.environ.get("POLYROUTE_STAGE_PROBE_FLOOR") != "1":
        from app.gateway import attempts, pipeline

        _around_async(pipeline.Gateway, "handle", "pipeline")
        _around_async(attempts.AttemptLoop, "run", "attempts")
        _around_async(pipeline.Gateway, "_completed", "answer")
    signal.signal(signal.SIGUSR1, _dump)


def _install_census(out: str) -> None:
    counts: dict[tuple[str, int, str], int] = {}

    def profile(frame: Any, event: str, arg: Any) -> None:
        if event == "call":
            code = frame.f_code
            name = code.co_qualname
            if code.co_filename == "<string>" and "self" in frame.f_locals:  # dataclasses' generated methods
                name = f"{type(frame.f_locals['self']).__qualname__}.{name}"
            key = (code.co_filename, code.co_firstlineno, name)
        elif event == "c_call":
            key = ("C", 0, getattr(arg, "__qualname__", repr(arg)))
        else:
            return
        counts[key] = counts.get(key, 0) + 1

    def toggle(signum: int = 0, frame: object = None) -> None:
        if sys.getprofile() is None:
            counts.clear()
            sys.setprofile(profile)
            return
        sys.setprofile(None)
        rows = sorted(counts.items(), key=lambda item: -item[1])
        with open(out + ".tmp", "w") as f:
            f.writelines(f"{n}\t{name}\t{where}:{line}\n" for (where, line, name), n in rows)
        os.replace(out + ".tmp", out)

    signal.signal(signal.SIGUSR2, toggle)


if _OUT:
    _install()
if os.environ.get("POLYROUTE_CALL_CENSUS"):
    _install_census(os.environ["POLYROUTE_CALL_CENSUS"])
