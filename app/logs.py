"""Logging set-up: one format, a rotating file, and a filter that removes credentials from every record."""

from __future__ import annotations

import logging
import logging.handlers
from pathlib import Path

from app.secrets import scrub


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


LOG_FILE_NAME = "vigil.log"
LOG_FILE_MAX_BYTES = 10_000_000
LOG_FILE_BACKUPS = 5


def setup_logging(level: str = "INFO", log_dir: Path | None = None) -> Path | None:
    """Console + (with *log_dir*) a rotating ``vigil.log`` (10 MB x 5), both through :class:`ScrubSecrets`.

    Calling it again replaces the handlers it installed before (tests, a re-run ``main()``). Returns the
    log file's path, or None when there is none (no *log_dir*, or the folder cannot be written: then a
    warning says so and Vigil logs to the console only)."""
    root = logging.getLogger()
    root.setLevel(level.upper())
    close_logging()
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s")
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
    if problem:
        logging.getLogger(__name__).warning("%s", problem)
    return log_file


def close_logging() -> None:
    """Remove (and close) the handlers :func:`setup_logging` installed."""
    root = logging.getLogger()
    for h in list(root.handlers):
        if getattr(h, "_vigil_handler", False):
            root.removeHandler(h)
            h.close()
