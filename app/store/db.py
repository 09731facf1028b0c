"""Engine creation (SQLite pragmas) and programmatic Alembic migrations.

SQLite: a rollback journal (``journal_mode=TRUNCATE``) and ``mmap_size=0``, so SQLite reaches its files
only through read()/write() system calls, which fail with an error code, and never through a memory
mapping, whose failure is a SIGBUS that kills the whole process (decision, issue 13: WAL memory-maps its
``-shm`` wal-index; when that file was truncated, or its disk failed, Vigil died within 0.05 s with no log
line). ``synchronous=FULL`` (the safe setting for a rollback journal: a power cut never corrupts),
``busy_timeout`` so a briefly locked file waits instead of failing at once. A database left in WAL mode
by an older Vigil is switched to TRUNCATE on its first connection (which needs no other program to have
it open; until then the open is retried). Any other SQLAlchemy URL (PostgreSQL for a shared history) is
used as given, with ``pool_pre_ping`` so a restarted server is reconnected.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
from pathlib import Path

from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url

from app.secrets import mask_url

log = logging.getLogger(__name__)


class StoreError(Exception):
    """The store cannot be used; the message says why in words."""


# Rollback journal, never WAL: see the module docstring (no shared-memory file, no SIGBUS).
SQLITE_JOURNAL_MODE = "truncate"


def is_sqlite_url(url: str) -> bool:
    try:
        return make_url(url).get_backend_name() == "sqlite"
    except Exception:
        return False


def sqlite_file(url: str) -> Path | None:
    """The database file of a SQLite *url* (None for PostgreSQL, ``:memory:`` or a bad URL)."""
    try:
        u = make_url(url)
    except Exception:
        return None
    if u.get_backend_name() != "sqlite" or not u.database or u.database == ":memory:":
        return None
    return Path(u.database).expanduser()


def migrations_dir() -> Path:
    """``app/store/migrations`` next to this module: works from a checkout and from a PyInstaller bundle
    (the spec copies the scripts as data under the same relative path; ``sys._MEIPASS`` is a fallback)."""
    here = Path(__file__).resolve().parent / "migrations"
    if (here / "env.py").is_file():
        return here
    base = getattr(sys, "_MEIPASS", None)
    if base and (Path(base) / "app" / "store" / "migrations" / "env.py").is_file():
        return Path(base) / "app" / "store" / "migrations"
    raise StoreError(f"the database migration scripts are missing (looked in {here}); this installation is broken")


def sqlite_url(path: Path) -> str:
    return f"sqlite:///{Path(path)}"


def create_store_engine(
    url: str, busy_timeout_ms: int = 5000, sqlite_pragmas: dict[str, object] | None = None
) -> Engine:
    """An engine for *url*; SQLite files get their folder created and the pragmas on every connection.

    *sqlite_pragmas* adds pragmas (tests use ``max_page_count`` to simulate a full disk).
    """
    try:
        u = make_url(url)
    except Exception as e:
        raise StoreError(f"database URL {mask_url(url)!r} is not a SQLAlchemy URL: {e}") from None
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:":
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(u, connect_args={"timeout": busy_timeout_ms / 1000.0, "check_same_thread": False})
        extra = sqlite_pragmas if sqlite_pragmas is not None else {}  # by reference: tests change it live

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_conn, _record) -> None:
            cur = dbapi_conn.cursor()
            refused = ""
            try:
                # busy_timeout first: switching a WAL database to a rollback journal needs a moment alone
                cur.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
                cur.execute("PRAGMA mmap_size=0")  # the build's default, made explicit: no mapping, no SIGBUS
                row = cur.execute(f"PRAGMA journal_mode={SQLITE_JOURNAL_MODE}").fetchone()
                mode = str(row[0]).lower() if row else "unknown"
                if mode == "wal":
                    # still WAL (another program has it open, or the file is read-only): refuse this connection
                    # rather than write through the -shm mapping; the writer retries the open with backoff
                    refused = (f"the database is in WAL mode and could not be switched to {SQLITE_JOURNAL_MODE.upper()}"
                               " (is another program using it, or is it read-only?)")  # fmt: skip
                else:
                    cur.execute("PRAGMA synchronous=FULL")
                    for k, v in extra.items():
                        cur.execute(f"PRAGMA {k}={int(v)}")  # type: ignore[call-overload]
            except BaseException:
                # SQLAlchemy does not close a connection whose connect hook failed: a leaked one would keep
                # its lock on a WAL file (so the switch fails again at the retry) and the disk busy
                cur.close()
                dbapi_conn.close()
                raise
            cur.close()
            if refused:
                dbapi_conn.close()
                raise sqlite3.OperationalError(refused)

        return engine
    try:
        return create_engine(u, pool_pre_ping=True, pool_size=4, max_overflow=4)
    except Exception as e:  # e.g. a missing DBAPI driver
        raise StoreError(f"cannot use database {mask_url(url)!r}: {e}") from None


def _alembic_config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir()))
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Bring the schema to *revision* (default: the newest). Idempotent."""
    from alembic import command
    from alembic.util import CommandError

    cfg = _alembic_config()
    try:
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)
    except CommandError as e:  # e.g. a schema revision this Vigil does not know: retrying cannot help
        raise StoreError(f"cannot migrate the history database {mask_url(str(engine.url))}: {e} "
                         "(was it written by a newer Vigil?)") from None  # fmt: skip


def current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def head_revision() -> str:
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(_alembic_config()).get_current_head()
    assert head is not None
    return head


def table_names(engine: Engine) -> set[str]:
    return set(inspect(engine).get_table_names())
