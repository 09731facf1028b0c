"""SQLAlchemy 2.x models: the schema of Vigil's history (the migrations in ``migrations/`` create it).

Times are UNIX seconds as floats (portable between SQLite and PostgreSQL, no time-zone surprises).
There are no foreign keys on ``camera_id``: history must outlive a camera removed from the config, and
the single writer must never fail a batch because a camera row is late.
"""

from __future__ import annotations

from sqlalchemy import JSON, BigInteger, Boolean, Float, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# BIGINT on PostgreSQL, INTEGER (the rowid alias, so autoincrement works) on SQLite.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Camera(Base):
    __tablename__ = "cameras"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(120), default="")
    group_name: Mapped[str] = mapped_column(String(120), default="")
    first_seen: Mapped[float] = mapped_column(Float)
    last_seen: Mapped[float] = mapped_column(Float)


class StateEvent(Base):
    __tablename__ = "state_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    old_state: Mapped[str] = mapped_column(String(16))
    new_state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_state_events_camera_at", "camera_id", "at"), Index("ix_state_events_at", "at"))


class HealthSample(Base):
    __tablename__ = "health_samples"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    at: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16))
    fps: Mapped[float] = mapped_column(Float, default=0.0)
    bitrate_bps: Mapped[float] = mapped_column(Float, default=0.0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    conditions: Mapped[str] = mapped_column(String(255), default="")  # comma-separated
    __table_args__ = (Index("ix_health_samples_camera_at", "camera_id", "at"), Index("ix_health_samples_at", "at"))


class HealthRollup(Base):
    """Aggregates of health samples per camera and bucket (resolution_s 60 = 1 min, 3600 = 1 h). Rev 0002."""

    __tablename__ = "health_rollups"
    camera_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    resolution_s: Mapped[int] = mapped_column(Integer, primary_key=True)
    bucket_start: Mapped[float] = mapped_column(Float, primary_key=True)
    samples: Mapped[int] = mapped_column(Integer)
    fps_avg: Mapped[float] = mapped_column(Float)
    fps_min: Mapped[float] = mapped_column(Float)
    bitrate_avg: Mapped[float] = mapped_column(Float)
    latency_avg: Mapped[float] = mapped_column(Float)
    latency_max: Mapped[float] = mapped_column(Float)
    live_fraction: Mapped[float] = mapped_column(Float)
    __table_args__ = (Index("ix_health_rollups_res_bucket", "resolution_s", "bucket_start"),)


class Alert(Base):
    """One alarm and its whole lifecycle (ISA-18.2 states: active, acknowledged, cleared, resolved), upserted
    by id."""

    __tablename__ = "alerts"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    alertname: Mapped[str] = mapped_column(String(64))
    camera_id: Mapped[str] = mapped_column(String(64), default="")
    severity: Mapped[str] = mapped_column(String(16))
    status: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(Text, default="")
    started_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float)
    acknowledged_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    acknowledged_by: Mapped[str] = mapped_column(String(120), default="")
    ack_note: Mapped[str] = mapped_column(Text, default="")
    resolved_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    resolved_by: Mapped[str] = mapped_column(String(120), default="")
    # revision 0002
    resolve_note: Mapped[str] = mapped_column(Text, default="")
    labels: Mapped[dict] = mapped_column(JSON, default=dict)
    # revision 0003
    cleared_at: Mapped[float | None] = mapped_column(Float, nullable=True)
    shelved_until: Mapped[float | None] = mapped_column(Float, nullable=True)
    shelved_by: Mapped[str] = mapped_column(String(120), default="")
    shelve_note: Mapped[str] = mapped_column(Text, default="")
    __table_args__ = (Index("ix_alerts_status", "status"), Index("ix_alerts_started_at", "started_at"))


class MotionEventRow(Base):
    """Written by the motion/recording feature through ``Store.record_motion_event``. Rev 0002."""

    __tablename__ = "motion_events"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    peak_area: Mapped[float] = mapped_column(Float, default=0.0)
    regions: Mapped[list] = mapped_column(JSON, default=list)
    labels: Mapped[list] = mapped_column(JSON, default=list)
    __table_args__ = (Index("ix_motion_events_camera_started", "camera_id", "started_at"),)


class RecordingSegmentRow(Base):
    """Closed recording segments, written through ``Store.record_segment``. Rev 0002."""

    __tablename__ = "recording_segments"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    camera_id: Mapped[str] = mapped_column(String(64))
    path: Mapped[str] = mapped_column(String(1024), unique=True)
    started_at: Mapped[float] = mapped_column(Float)
    ended_at: Mapped[float] = mapped_column(Float)
    duration_s: Mapped[float] = mapped_column(Float)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    has_motion: Mapped[bool] = mapped_column(Boolean, default=False)
    locked: Mapped[bool] = mapped_column(Boolean, default=False)
    __table_args__ = (Index("ix_recording_segments_camera_started", "camera_id", "started_at"),)
