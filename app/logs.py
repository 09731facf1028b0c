"""Logging set-up: one format, a rotating file, a filter that removes credentials from every record, a
formatter that keeps every record on one line, and crash hooks that log through both.

A log line is evidence: an operator (or a SIEM) reads "ALERT RESOLVED CameraOffline" and believes it.
Text that a device or an operator supplied (a device's ``last_error_msg``, a camera name, an exception
message that echoes a server's reply) is therefore never written raw: :class:`OneRecordPerLine` escapes
every control character of the record's line (``app.textsafe.escape_controls``: ``\\n``, ``\\x1b``, ...),
so a record is exactly one line that starts with its timestamp. A traceback or stack (``exc_info``,
``stack_info``) keeps its lines, each prefixed with ``CONTINUATION`` ("    | "), so no traceback line can
pass for a record either. Both handlers (console and file) use it, so it covers every logger.

Order per record: :class:`ScrubSecrets` (a handler filter) masks credentials on the raw text first (its
patterns end a value at whitespace, a newline included), then the formatter escapes.
"""

from __future__ import annotations

import logging
import logging.handlers
import sys
import threading
from pathlib import Path

from app.secrets import scrub
from app.textsafe import escape_controls

CONTINUATION = "    | "
LOG_FORMAT = "%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s"


class ScrubSecrets(logging.Filter):
    """Last line of defence: whatever a library logs, passwords in URLs are masked before output."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            msg = record.getMessage()
        except Exception:
            return True
        clean = scrub(msg)
        if clean != msg:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = scrub(text)
        if record.stack_info:
            record.stack_info = scrub(record.stack_info)
        return True


class OneRecordPerLine(logging.Formatter):
    """One record = one line (controls escaped); traceback and stack lines follow, each behind
    :data:`CONTINUATION`."""

    def format(self, record: logging.LogRecord) -> str:
        record.message = record.getMessage()
        if self.usesTime():
            record.asctime = self.formatTime(record, self.datefmt)
        # the whole head: thread names and logger names can carry a camera id as well
        lines = [escape_controls(self.formatMessage(record))]
        blocks = []
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            blocks.append(record.exc_text)
        if record.stack_info:
            blocks.append(self.formatStack(record.stack_info))
        for block in blocks:
            lines += [CONTINUATION + escape_controls(line) for line in block.splitlines()]
        return "\n".join(lines)


def log_formatter() -> logging.Formatter:
    """The formatter of Vigil's handlers (also for a handler a test or a tool adds)."""
    return OneRecordPerLine(LOG_FORMAT)


LOG_FILE_NAME = "vigil.log"
LOG_FILE_MAX_BYTES = 10_000_000
LOG_FILE_BACKUPS = 5


def setup_logging(level: str = "INFO", log_dir: Path | None = None) -> Path | None:
    """Console + (with *log_dir*) a rotating ``vigil.log`` (10 MB x 5), both through :class:`ScrubSecrets`
    and :class:`OneRecordPerLine`; unhandled exceptions are logged through them (:func:`install_crash_hooks`).

    Calling it again replaces the handlers it installed before (tests, a re-run ``main()``). Returns the
    log file's path, or None when there is none (no *log_dir*, or the folder cannot be written: then a
    warning says so and Vigil logs to the console only)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    close_logging()
    fmt = log_formatter()
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    log_file: Path | None = None
    problem = ""
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(
                log_dir / LOG_FILE_NAME, maxBytes=LOG_FILE_MAX_BYTES, backupCount=LOG_FILE_BACKUPS,
                encoding="utf-8"))  # fmt: skip
            log_file = log_dir / LOG_FILE_NAME
        except OSError as e:
            problem = f"cannot write logs to {log_dir}: {e.strerror or e}; logging to the console only"
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(ScrubSecrets())
        h._vigil_handler = True  # type: ignore[attr-defined]
        root.addHandler(h)
    logging.getLogger("libav").setLevel(logging.ERROR)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # 7 "setup plugin" lines per start
    install_crash_hooks()
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
    return log_file


crash_log = logging.getLogger("vigil.crash")


def _log_crash(what: str, exc_info) -> None:
    if logging.getLogger().hasHandlers():
        crash_log.critical("%s", what, exc_info=exc_info)
    else:  # before setup_logging (or after close_logging): stderr, still scrubbed and one record
        print(log_formatter().format(_crash_record(what, exc_info)), file=sys.stderr)


def _crash_record(what: str, exc_info) -> logging.LogRecord:
    record = crash_log.makeRecord(crash_log.name, logging.CRITICAL, __file__, 0, what, (), exc_info)
    ScrubSecrets().filter(record)
    return record


def _excepthook(exc_type, exc, tb) -> None:
    if issubclass(exc_type, KeyboardInterrupt):
        sys.__excepthook__(exc_type, exc, tb)
        return
    _log_crash("unhandled exception", (exc_type, exc, tb))


def _thread_excepthook(args: threading.ExceptHookArgs) -> None:
    if args.exc_type is SystemExit:
        return
    name = args.thread.name if args.thread is not None else "?"
    _log_crash(f"unhandled exception in thread {name}", (args.exc_type, args.exc_value, args.exc_traceback))


def _unraisablehook(u) -> None:
    what = f"{u.err_msg or 'exception ignored'}: {u.object!r}" if u.object is not None else "exception ignored"
    _log_crash(what, (u.exc_type, u.exc_value, u.exc_traceback))


def install_crash_hooks() -> None:
    """Unhandled exceptions (main thread, any thread, Qt slots, ``__del__``) go through the log with its
    filter and formatter: credentials scrubbed (``app.secrets.scrub``), one record, traceback lines behind
    :data:`CONTINUATION`, into ``vigil.log`` as well. Python's defaults print the raw traceback on stderr,
    where a URL with its password in an exception message would land as is. :func:`close_logging` puts
    back the hooks found here."""
    if sys.excepthook is not _excepthook:
        _previous_hooks[:] = [sys.excepthook, threading.excepthook, sys.unraisablehook]
    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    sys.unraisablehook = _unraisablehook


_previous_hooks: list = []


def _restore_crash_hooks() -> None:
    if _previous_hooks and sys.excepthook is _excepthook:
        sys.excepthook, threading.excepthook, sys.unraisablehook = _previous_hooks
    _previous_hooks.clear()


def close_logging() -> None:
    """Remove (and close) the handlers :func:`setup_logging` installed."""
    _restore_crash_hooks()
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_vigil_handler", False):
            root.removeHandler(h)
            h.close()
