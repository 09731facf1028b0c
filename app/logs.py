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
        return True


def setup_logging(level: str = "INFO", log_dir: Path | None = None) -> None:
    root = logging.getLogger()
    root.setLevel(level.upper())
    fmt = logging.Formatter("%(asctime)s %(levelname)-7s %(threadName)s %(name)s: %(message)s")
    handlers: list[logging.Handler] = [logging.StreamHandler()]
    if log_dir is not None:
        try:
            log_dir.mkdir(parents=True, exist_ok=True)
            handlers.append(logging.handlers.RotatingFileHandler(
                log_dir / "vigil.log", maxBytes=10_000_000, backupCount=5, encoding="utf-8"))  # fmt: skip
        except OSError as e:
            logging.getLogger(__name__).warning("cannot write logs to %s: %s", log_dir, e.strerror)
    for h in handlers:
        h.setFormatter(fmt)
        h.addFilter(ScrubSecrets())
        root.addHandler(h)
    logging.getLogger("libav").setLevel(logging.ERROR)
