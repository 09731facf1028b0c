"""Alarm states after ISA-18.2: when the condition cleared, and shelving (until, by whom, why).

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02

Existing rows keep their status ("active", "acknowledged", "resolved"); the new status "cleared" (returned
to normal, unacknowledged) is written from this revision on. Server defaults keep rows of 0002 valid.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("cleared_at", sa.Float, nullable=True))
        batch.add_column(sa.Column("shelved_until", sa.Float, nullable=True))
        batch.add_column(sa.Column("shelved_by", sa.String(120), nullable=False, server_default=""))
        batch.add_column(sa.Column("shelve_note", sa.Text, nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        for name in ("shelve_note", "shelved_by", "shelved_until", "cleared_at"):
            batch.drop_column(name)
