"""Vigil's history store: SQLAlchemy models, Alembic migrations, one writer thread, background readers.

See docs/store.md. Public API: :class:`Store` (service), records in :mod:`app.store.records`, read
functions in :mod:`app.store.repository`, export in :mod:`app.store.export`.
"""

from app.store.db import StoreError
from app.store.service import Store, self_test

__all__ = ["Store", "StoreError", "self_test"]
