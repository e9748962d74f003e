"""`polyroute serve | migrate | config check | config import-litellm | keys ... | admin ...`."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import msgspec
import yaml

from app.catalog.config_file import ConfigFile, ConfigFileError, load_config_file, parse_config
from app.catalog.litellm_import import import_litellm
from app.observability.multiproc import prepare_multiproc_dir, remove_multiproc_dir
from app.settings import SETTINGS_ENV, Settings, load_settings

__all__ = ["main"]


def _fail(message: str, code: int = 2) -> int:
    print(f"polyroute: {message}", file=sys.stderr)
    return code


async def _prepare(settings: Settings, cfg: ConfigFile | None) -> None:
    """Migrate the schema and apply the config file, before any worker starts."""
    from app.catalog.apply import apply_config
    from app.catalog.secrets import SecretBox
    from app.db.engine import close_database, migrate, start_pool, startup_lock, use_database

    ran = await migrate(settings.database_url)
    if ran:
        print(f"polyroute: database schema migrated ({_migrations(ran)})", flush=True)
    engine = use_database(settings.database_url)
    await start_pool(engine)
    try:
        # The key file (when POLYROUTE_SECRET_KEY is unset) is made here, before the workers that read it start.
        box = SecretBox.from_settings(settings.secret_key, settings.data_dir)
        async with startup_lock(engine):  # replicas starting together apply the same file one after another
            if cfg is not None:
                await apply_config(cfg, box)
            else:
                from app.catalog.store import bump_version, current_version

                if await current_version() == 0:
                    await bump_version()
    finally:
        await close_database(engine)


def _prepare_in_child(settings: Settings, meanwhile: Callable[[], object] | None = None) -> None:
    """Run `_prepare` in a child interpreter: the server's parent process then never imports the
    database and migration stack (piccolo pulls in black, rich, ...), which would otherwise stay
    resident in it for the server's whole life. A plain child process, not multiprocessing's spawn:
    that leaves its resource-tracker process (11 MB) running beside the server until it stops.
    `meanwhile` runs in this process while the child works."""
    import subprocess

    # The child finds this checkout's `app` even when it is not installed and the cwd is elsewhere
    # (multiprocessing's spawn passed the parent's sys.path along).
    source = str(Path(__file__).resolve().parents[1])
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    child = subprocess.Popen(
        [sys.executable, "-c", "from app.cli import prepare_from_stdin; prepare_from_stdin()"],
        stdin=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": path},
    )
    assert child.stdin is not None
    assert child.stderr is not None
    try:
        child.stdin.write(msgspec.json.encode(settings))
        child.stdin.close()
        if meanwhile is not None:
            meanwhile()
        said = child.stderr.read().decode("utf-8", "replace").strip()
    finally:
        child.wait()
    if child.returncode != 0:
        raise RuntimeError(said.splitlines()[-1] if said else f"the preparing process exited with {child.returncode}")
    if said:  # warnings: shown as they would have been in-process
        print(said, file=sys.stderr)


def _import_app() -> None:
    import app.main  # noqa: F401  # what uvicorn's factory import then finds loaded


def prepare_from_stdin() -> None:
    """The child's side of `_prepare_in_child`: settings as JSON on stdin; the config file is read again
    here (the parent has already checked it), and a failure's last line on stderr is what the parent says."""
    settings = msgspec.json.decode(sys.stdin.buffer.read(), type=Settings)
    try:
        asyncio.run(_prepare(settings, _load(settings)))
    except Exception as exc:
        print(str(exc) or type(exc).__name__, file=sys.stderr)
        raise SystemExit(1) from None


def _load(settings: Settings) -> ConfigFile | None:
    if not settings.config_path:
        return None
    return load_config_file(settings.config_path, os.environ)


def _warn_about_state(settings: Settings) -> None:
    """What would differ between worker processes or replicas that should behave as one."""
    from app.limits.store import backend_name

    if not settings.is_sqlite and not settings.secret_key:
        print(
            f"polyroute: warning: POLYROUTE_SECRET_KEY is unset, so the key file in {settings.data_dir} is used; "
            "every replica sharing this database must have the same key, or provider credentials, tokens and "
            "webhook signatures made on one fail on the others",
            file=sys.stderr,
            flush=True,
        )
    if settings.workers > 1 and backend_name(settings) == "memory":
        print(
            f"polyroute: warning: rate limits, daily caps and budgets are counted in each of the {settings.workers} "
            "worker processes separately (up to that many times the limit); set POLYROUTE_REDIS_URL or use "
            "Postgres to count them once",
            file=sys.stderr,
            flush=True,
        )


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        settings = load_settings(
            os.environ, args.config, host=args.host, port=args.port, workers=args.workers, server=args.server
        )
        _load(settings)  # checked here, to refuse early; the preparing child applies it
    except (ConfigFileError, ValueError, msgspec.ValidationError) as exc:
        return _fail(str(exc))
    _warn_about_state(settings)
    # Before anything imports prometheus_client: it picks file-backed values from this variable at import.
    metrics_dir, own_metrics_dir = prepare_multiproc_dir(os.environ)
    # With one uvicorn worker, the worker is this process: importing the app while the child prepares
    # the database overlaps the two (start-up to ready 0.95 -> 0.84 s). With more, or under granian,
    # the workers import it themselves and this process should not hold it.
    overlap = settings.server == "uvicorn" and settings.workers == 1
    try:
        _prepare_in_child(settings, meanwhile=_import_app if overlap else None)
    except (OSError, RuntimeError) as exc:
        if own_metrics_dir:
            remove_multiproc_dir(metrics_dir)
        return _fail(f"cannot prepare the database at {settings.database_url}: {exc}", 1)

    os.environ[SETTINGS_ENV] = msgspec.json.encode(settings).decode()
    raise_open_files_limit()  # before the server starts: its workers inherit the limit
    print(
        f"Polyroute serving on http://{settings.host}:{settings.port}/v1 "
        f"(workers: {settings.workers}, server: {settings.server})",
        flush=True,
    )
    try:
        (_serve_granian if settings.server == "granian" else _serve_uvicorn)(settings)
    finally:
        if own_metrics_dir:
            remove_multiproc_dir(metrics_dir)
    return 0


def raise_open_files_limit() -> int:
    """Lift the soft limit on open files to the hard one, as Go's runtime does at start; returns it.

    Every stream holds two sockets (the caller's and the upstream's), so the soft limit most Linux
    distributions start services with, 1,024, would cap a gateway near 500 concurrent streams with
    "Too many open files". The hard limit is the operator's ceiling; we only stop short of it.
    """
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard
    if hard == resource.RLIM_INFINITY:  # Linux refuses an infinite soft limit: take the kernel's ceiling
        try:
            target = int(Path("/proc/sys/fs/nr_open").read_text())
        except (OSError, ValueError):
            target = 1 << 20
    if soft == resource.RLIM_INFINITY or soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    except (ValueError, OSError):
        return soft
    return target


def _serve_granian(settings: Settings) -> None:
    from granian import Granian
    from granian.constants import Interfaces, Loops

    Granian(
        "app.main:worker_app",
        factory=True,
        address=settings.host,
        port=settings.port,
        interface=Interfaces.ASGI,
        workers=settings.workers,
        loop=Loops.asyncio if settings.loop == "asyncio" else Loops.uvloop,
        log_access=False,
        backlog=2048,
        workers_kill_timeout=int(settings.drain_timeout_s) + 5,
    ).serve()


def _serve_uvicorn(settings: Settings) -> None:
    import signal

    import uvicorn

    # uvicorn re-raises the signal that stopped it once it has drained, with the handler it found in
    # place: a no-op one makes a graceful stop exit 0, as it does under granian.
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: None)

    uvicorn.run(
        "app.main:worker_app",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        loop="uvloop" if settings.loop == "uvloop" else "asyncio",
        http="httptools",
        ws="websockets-sansio",  # the Realtime API; it lets a refused upgrade get an HTTP answer
        ws_max_size=settings.max_body_bytes,  # a frame over it closes the session with 1009 (too big)
        lifespan="on",
        access_log=False,
        log_level="warning",  # our own access log and JSON logs say what happened
        server_header=False,
        proxy_headers=False,  # applied to the Litestar side only (app.api.fast_paths): not per inference call
        backlog=2048,
        timeout_graceful_shutdown=int(settings.drain_timeout_s) + 5,
    )


def cmd_migrate(args: argparse.Namespace) -> int:
    settings = load_settings(os.environ)
    from app.db.engine import migrate

    try:
        ran = asyncio.run(migrate(settings.database_url))
    except (OSError, RuntimeError) as exc:
        return _fail(f"migration failed: {exc}", 1)
    print(f"polyroute: {'applied ' + _migrations(ran) if ran else 'the database schema is up to date'}")
    return 0


def _migrations(names: list[str]) -> str:
    return f"{len(names)} migration{'s' if len(names) != 1 else ''}: {', '.join(names)}"


def cmd_config_check(args: argparse.Namespace) -> int:
    try:
        cfg = load_config_file(args.file, os.environ)
    except ConfigFileError as exc:
        return _fail(str(exc))
    print(
        f"{args.file}: ok ({len(cfg.providers)} providers, {len(cfg.routes)} routes, "
        f"{len(cfg.plans)} plans, {len(cfg.api_keys)} api keys)"
    )
    return 0


def cmd_import_litellm(args: argparse.Namespace) -> int:
    """Print the Polyroute config file for a LiteLLM proxy config; what did not carry over goes to stderr."""
    try:
        with open(args.file, encoding="utf-8") as handle:
            doc = yaml.safe_load(handle)
        result = import_litellm(doc)
    except (OSError, yaml.YAMLError, ValueError) as exc:
        return _fail(f"{args.file}: {exc}")
    text = f"# Imported from {args.file} by `polyroute config import-litellm`.\n" + yaml.safe_dump(
        result.config, sort_keys=False, allow_unicode=True
    )
    try:  # the result is a valid config file, unless it names variables this environment lacks
        parse_config(text, os.environ, args.output or "<output>")
    except ConfigFileError as exc:
        if "is not set" not in str(exc):
            return _fail(f"the imported config does not validate: {exc}", 1)
        result.notes.append(f"not validated here ({exc}); run `polyroute config check` where they are set")
    if args.output:
        with open(args.output, "w", encoding="utf-8") as handle:
            handle.write(text)
    else:
        sys.stdout.write(text)
    for note in result.notes:
        print(f"note: {note}", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="polyroute", description="Polyroute LLM API gateway")
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="apply the config file and serve")
    serve.add_argument("--config", help="declarative config file (polyroute.yaml)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)
    serve.add_argument("--workers", type=int)
    serve.add_argument("--server", choices=["uvicorn", "granian"], help="HTTP server (default uvicorn)")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="create or upgrade the database schema")
    migrate.set_defaults(func=cmd_migrate)

    config = sub.add_parser("config", help="config file tools")
    config_sub = config.add_subparsers(dest="config_command", required=True)
    check = config_sub.add_parser("check", help="validate a config file")
    check.add_argument("file")
    check.set_defaults(func=cmd_config_check)
    imported = config_sub.add_parser("import-litellm", help="write a config file from a LiteLLM proxy config.yaml")
    imported.add_argument("file")
    imported.add_argument("-o", "--output", help="write here instead of stdout")
    imported.set_defaults(func=cmd_import_litellm)

    from app.cli_admin import register

    register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    result: int = args.func(args)
    return result


if __name__ == "__main__":
    sys.exit(main())
