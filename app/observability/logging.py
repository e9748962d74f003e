"""Process logging: JSON or text lines that carry the request and trace ids, with credentials masked.

`configure_logging` puts one handler on the root logger: in the calling thread it only adds
`request_id` and `trace_id` (of the request this task is handling) and merges the message
with its arguments; a writer thread then, in batches, masks anything that looks like a
credential (in the message, extra fields and exception text), formats the lines and writes
them to stderr. A log call on the request path therefore costs a record and a deque append.
"""

from __future__ import annotations

import atexit
import logging
import re
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any, Literal, NamedTuple, TextIO

import msgspec

from app.observability.context import current_request

__all__ = [
    "AccessLine",
    "ContextQueueHandler",
    "JsonFormatter",
    "LogWriter",
    "RedactingFilter",
    "RequestContextFilter",
    "TextFormatter",
    "configure_logging",
    "log_access",
    "redact",
    "resolve_format",
]

LogFormat = Literal["auto", "json", "text"]
MASK = "***"

# One pass over the text; each alternative keeps its harmless prefix and masks the secret part.
_SECRET = re.compile(
    r"(?P<kv>(?i:\b(?:proxy-)?authorization|\bx-api-key|\bx-goog-api-key|\bapi[-_]?key|\badmin[-_]?key"
    r"|\bsecret[-_]?key|\bpassword|\baccess[-_]?token|\bclient[-_]?secret)[\"']?\s*[:=]\s*[\"']?"
    r"(?:(?i:bearer|basic|token)\s+)?)[^\s\"',;&}\]]+"
    r"|(?P<query>[?&](?i:key|api_key|apikey|token|access_token|sig|signature)=)[^&\s\"'#]+"
    r"|(?P<bearer>(?i:\bbearer)\s+)[A-Za-z0-9._~+/=\-]{6,}"
    r"|(?P<prefixed>\b(?:sk|pk|rk)-|\bpr-admin-)[A-Za-z0-9_\-]{6,}"
    r"|(?P<google>\bAIza)[0-9A-Za-z_\-]{20,}"
    r"|(?P<jwt>\beyJ)[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]+"
)
_KEEP = ("kv", "query", "bearer", "prefixed", "google", "jwt")
# Text with none of these (lower-cased) cannot match `_SECRET`; checking them first is cheaper.
_HINTS = (
    "sk-",
    "pk-",
    "rk-",
    "pr-admin",
    "aiza",
    "eyj",
    "bearer",
    "author",
    "api",
    "key",
    "token",
    "secret",
    "passw",
    "sig=",
)
_STANDARD = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


def _mask(match: re.Match[str]) -> str:
    for group in _KEEP:
        kept = match.group(group)
        if kept is not None:
            return kept + MASK
    return MASK


class RedactingFilter(logging.Filter):
    """Masks API keys, bearer tokens, credential headers and `key=` query parameters; never drops a record."""

    def __init__(self, secrets: Iterable[str | None] = ()) -> None:
        super().__init__()
        self.secrets = [s for s in secrets if s and len(s) >= 6]
        """Exact values (the admin key, the secret key) masked wherever they appear, whatever their shape."""

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return redact(text)

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redact(record.getMessage())
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        for name, value in record.__dict__.items():
            if name not in _STANDARD and isinstance(value, str):
                record.__dict__[name] = self.redact(value)
        return True


def redact(text: str) -> str:
    """The pattern masking `RedactingFilter` applies, for one string."""
    low = text.lower()
    for hint in _HINTS:
        if hint in low:
            return _SECRET.sub(_mask, text)
    return text


class RequestContextFilter(logging.Filter):
    """Adds `request_id` and `trace_id` of the request this task is handling ("" outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        state = current_request.get()
        record.request_id = state.request_id if state is not None else ""
        record.trace_id = state.trace_id if state is not None else ""
        return True


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in record.__dict__.items() if k not in _STANDARD and k not in ("request_id", "trace_id")}


_encode = msgspec.json.Encoder(enc_hook=str).encode
"""A few times faster than json.dumps; the writer thread formats while holding the GIL."""


def _utc_stamp(created: float, msecs: float | None = None) -> str:
    msecs = (created - int(created)) * 1000 if msecs is None else msecs
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(created)) + f".{int(msecs):03d}Z"


def _masked(value: str | None, redact: Callable[[str], str]) -> str | None:
    return redact(value) if value is not None else None


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, request_id, trace_id, extra fields, exc."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, Any] = {
            "ts": _utc_stamp(record.created, record.msecs),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if getattr(record, "request_id", ""):
            doc["request_id"] = record.__dict__["request_id"]
            doc["trace_id"] = getattr(record, "trace_id", "")
        doc.update(_extras(record))
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            doc["exc"] = record.exc_text
        if record.stack_info:
            doc["stack"] = record.stack_info
        return _encode(doc).decode()

    def format_access(self, line: AccessLine, redact: Callable[[str], str]) -> str:
        """What `format` makes of `line.record()` once masked, without building the record (~3x cheaper)."""
        doc: dict[str, Any] = {
            "ts": _utc_stamp(line.created),
            "level": "INFO",
            "logger": ACCESS_LOGGER,
            "message": redact(line.message()),
        }
        if line.request_id:
            doc["request_id"] = redact(line.request_id)
            doc["trace_id"] = redact(line.trace_id)
        doc |= {
            "method": redact(line.method),
            "path": redact(line.path),
            "status": line.status,
            "latency_ms": line.latency_ms,
            "provider": _masked(line.provider, redact),
            "model": _masked(line.model, redact),
            "error_code": _masked(line.error_code, redact),
        }
        return _encode(doc).decode()


class TextFormatter(logging.Formatter):
    """`time LEVEL logger message [request_id=... trace_id=...]`, then the traceback if any."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:  # logging's own (camelCase) method
        line = super().formatMessage(record)
        if getattr(record, "request_id", ""):
            line += f" request_id={record.__dict__['request_id']} trace_id={getattr(record, 'trace_id', '')}"
        return line

    def format_access(self, line: AccessLine, redact: Callable[[str], str]) -> str:
        """What `format` makes of `line.record()` once masked, without building the record."""
        stamp = time.strftime(self.default_time_format, self.converter(line.created))
        msecs = int((line.created - int(line.created)) * 1000)
        head = f"{stamp},{msecs:03d} INFO {ACCESS_LOGGER} {redact(line.message())}"  # logging's default_msec_format
        if not line.request_id:
            return head
        return f"{head} request_id={redact(line.request_id)} trace_id={redact(line.trace_id)}"


def resolve_format(fmt: str, stream: TextIO) -> Literal["json", "text"]:
    """`auto` is text on a terminal (./scripts/run by hand) and JSON everywhere else."""
    if fmt in ("json", "text"):
        return fmt  # type: ignore[return-value]  # narrowed by the membership test
    isatty = getattr(stream, "isatty", None)
    return "text" if isatty is not None and isatty() else "json"


class AccessLine(NamedTuple):
    """One access-log line as the request path hands it over: the LogRecord is built in the writer."""

    created: float
    method: str
    path: str
    status: int
    latency_ms: float
    provider: str | None
    model: str | None
    error_code: str | None
    request_id: str
    trace_id: str

    def message(self) -> str:
        return f"{self.method} {self.path} {self.status} {self.latency_ms:.1f}ms"

    def record(self) -> logging.LogRecord:
        record = logging.LogRecord(ACCESS_LOGGER, logging.INFO, "", 0, self.message(), None, None)
        record.created = self.created
        record.msecs = (self.created - int(self.created)) * 1000
        record.__dict__.update(
            request_id=self.request_id,
            trace_id=self.trace_id,
            method=self.method,
            path=self.path,
            status=self.status,
            latency_ms=self.latency_ms,
            provider=self.provider,
            model=self.model,
            error_code=self.error_code,
        )
        return record


ACCESS_LOGGER = "polyroute.access"


def log_access(line: AccessLine) -> None:
    """Hand one access line to the writer thread: a tuple and a deque append on the request path.

    A stdlib log call builds its LogRecord on the caller's thread (clock, thread and process names,
    the caller's frame): 19-46 µs on the event loop per request, measured. The writer builds it
    instead, so the line is formatted, masked and ordered like every other record. Without our
    handler installed (a library embedding the app) it falls back to a plain log call.
    """
    for handler in logging.root.handlers:
        if isinstance(handler, ContextQueueHandler):
            handler.writer.put(line)
            return
    logging.getLogger(ACCESS_LOGGER).handle(line.record())


class LogWriter:
    """A thread that, every `interval_s`, masks, formats and writes what was logged since, in one write.

    Waking once per batch rather than once per record keeps the writer from contending with the
    event loop for the GIL on every request. After a batch interval with nothing logged it sleeps
    until the next record wakes it (an idle gateway woke this thread 20 times a second for nothing).
    """

    def __init__(
        self, stream: TextIO, formatter: logging.Formatter, redactor: RedactingFilter, interval_s: float = 0.05
    ):
        self.stream = stream
        self.formatter = formatter
        self.redactor = redactor
        self.interval_s = interval_s
        self._records: deque[logging.LogRecord | AccessLine] = deque()
        self._wake = threading.Event()
        self._asleep = False
        """True while the thread waits for a record rather than for the next interval."""
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="polyroute-log-writer", daemon=True)
        self._thread.start()

    def put(self, record: logging.LogRecord | AccessLine) -> None:
        self._records.append(record)  # deque.append is atomic: no lock on the caller's side
        if self._asleep:  # only the first record after a quiet spell pays for waking the thread
            self._asleep = False
            self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(None if self._asleep else self.interval_s)
            self._wake.clear()
            if not self._records and not self._stopping:
                self._asleep = True
                # `put` appends, then reads the flag; this sets the flag, then looks again: a record
                # that raced the flag is seen here, so none waits for the next one.
                if self._records:
                    self._asleep = False
                continue
            self.drain()
        self.drain()

    def drain(self) -> None:
        lines = []
        records = self._records
        access = getattr(self.formatter, "format_access", None)
        while records:
            item = records.popleft()
            if isinstance(item, AccessLine):
                if access is not None:  # our formatters: straight to text, masked field by field
                    lines.append(access(item, self.redactor.redact))
                    continue
                record = item.record()
            else:
                record = item
            try:
                self.redactor.filter(record)
                lines.append(self.formatter.format(record))
            except Exception:  # a record that cannot be formatted must not stop the others
                lines.append(f"logging error: cannot format a record from {record.name}")
        if lines:
            try:
                self.stream.write("\n".join(lines) + "\n")
                self.stream.flush()
            except (OSError, ValueError):
                pass  # stderr closed at exit

    def stop(self) -> None:
        """Write what is pending and end the thread; safe to call twice (by a caller, then at exit)."""
        if not self._stopping:
            self._stopping = True
            self._wake.set()
            self._thread.join()


class ContextQueueHandler(logging.Handler):
    """The root handler: stamps the request ids (the contextvars live in this thread) and hands off."""

    def __init__(self, writer: LogWriter) -> None:
        super().__init__()
        self.writer = writer
        self.addFilter(RequestContextFilter())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            # Merge the arguments now (they may change later); masking and formatting happen in the writer.
            record.msg = record.getMessage()
            record.args = None
            self.writer.put(record)
        except Exception:
            self.handleError(record)

    def close(self) -> None:
        self.writer.stop()
        super().close()


def configure_logging(
    level: str = "INFO",
    fmt: str = "auto",
    *,
    access_log: bool = True,
    secrets: Iterable[str | None] = (),
    stream: TextIO | None = None,
) -> LogWriter:
    """Route every record through a context-aware handler to a redacting writer thread; returns the writer."""
    out = stream or sys.stderr
    formatter = JsonFormatter() if resolve_format(fmt, out) == "json" else TextFormatter()
    writer = LogWriter(out, formatter, RedactingFilter(secrets))
    atexit.register(writer.stop)
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
        if isinstance(old, ContextQueueHandler):
            old.close()
    root.addHandler(ContextQueueHandler(writer))
    root.setLevel(level.upper())
    # httpx logs every probe request at INFO; piccolo "Running Sqlite version 3.4" at every start
    # (its version as a float: SQLite 3.40 reads 3.4). Their warnings still come through.
    for chatty in ("apscheduler", "httpx", "httpcore", "piccolo"):
        logging.getLogger(chatty).setLevel(logging.WARNING)
    logging.getLogger(ACCESS_LOGGER).setLevel(logging.INFO if access_log else logging.WARNING)
    return writer
