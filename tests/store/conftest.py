"""Store fixtures: ``db_url`` runs each test on a fresh SQLite file AND on a fresh schema of the real
PostgreSQL server from the test lab (``postgres_server``, loopback)."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.store import Store
from app.store.db import sqlite_url


def reset_postgres(url: str) -> None:
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as c:
            c.exec_driver_sql("DROP SCHEMA public CASCADE")
            c.exec_driver_sql("CREATE SCHEMA public")
    finally:
        engine.dispose()


@pytest.fixture(params=["sqlite", "postgres"])
def db_url(request, tmp_path) -> str:
    if request.param == "sqlite":
        return sqlite_url(tmp_path / "history.sqlite3")
    pg = request.getfixturevalue("postgres_server")
    reset_postgres(pg.sqlalchemy_url)
    return pg.sqlalchemy_url


@pytest.fixture
def store(db_url):
    # Roll-ups only when a test asks: the tests write history at fixed past times, which the periodic job
    # (using the real clock) would roll up and expire under their feet.
    s = Store(db_url, periodic_maintenance=False)
    s.start()
    assert s.wait_ready(60), s.status().message
    yield s
    s.stop()
