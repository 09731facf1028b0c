"""Roll-ups, alert labels/resolve note, motion events and recording segments.

Revision ID: 0002
Revises: 0001
Create Date: 2024-06-15

Existing alerts get ``labels = {}`` and ``resolve_note = ''`` (server defaults, so rows written by
revision 0001 stay valid).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(sa.Column("resolve_note", sa.Text, nullable=False, server_default=""))
        batch.add_column(sa.Column("labels", sa.JSON, nullable=False, server_default="{}"))
    op.create_table(
        "health_rollups",
        sa.Column("camera_id", sa.String(64), primary_key=True),
        sa.Column("resolution_s", sa.Integer, primary_key=True),
        sa.Column("bucket_start", sa.Float, primary_key=True),
        sa.Column("samples", sa.Integer, nullable=False),
        sa.Column("fps_avg", sa.Float, nullable=False),
        sa.Column("fps_min", sa.Float, nullable=False),
        sa.Column("bitrate_avg", sa.Float, nullable=False),
        sa.Column("latency_avg", sa.Float, nullable=False),
        sa.Column("latency_max", sa.Float, nullable=False),
        sa.Column("live_fraction", sa.Float, nullable=False),
    )
    op.create_index("ix_health_rollups_res_bucket", "health_rollups", ["resolution_s", "bucket_start"])
    op.create_table(
        "motion_events",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("peak_area", sa.Float, nullable=False),
        sa.Column("regions", sa.JSON, nullable=False),
        sa.Column("labels", sa.JSON, nullable=False),
    )
    op.create_index("ix_motion_events_camera_started", "motion_events", ["camera_id", "started_at"])
    op.create_table(
        "recording_segments",
        sa.Column("id", BigId, primary_key=True, autoincrement=True),
        sa.Column("camera_id", sa.String(64), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False, unique=True),
        sa.Column("started_at", sa.Float, nullable=False),
        sa.Column("ended_at", sa.Float, nullable=False),
        sa.Column("duration_s", sa.Float, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("has_motion", sa.Boolean, nullable=False),
        sa.Column("locked", sa.Boolean, nullable=False),
    )
    op.create_index("ix_recording_segments_camera_started", "recording_segments", ["camera_id", "started_at"])


def downgrade() -> None:
    op.drop_table("recording_segments")
    op.drop_table("motion_events")
    op.drop_table("health_rollups")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("labels")
        batch.drop_column("resolve_note")
