"""Plain frozen records: what writers hand to ``Store.submit`` and what readers get back.

Nothing here holds a session or a connection, so any record can cross threads freely.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# ------------------------------------------------------------------ written through Store.submit


@dataclass(frozen=True, slots=True)
class CameraRecord:
    camera_id: str
    name: str
    group: str = ""
    seen_at: float = 0.0


@dataclass(frozen=True, slots=True)
class StateChangeRecord:
    camera_id: str
    at: float
    old_state: str
    new_state: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class HealthSampleRecord:
    camera_id: str
    at: float
    state: str
    fps: float = 0.0
    bitrate_bps: float = 0.0
    latency_ms: float = 0.0
    conditions: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """The whole current state of one alert; writing it again with the same id updates the row."""

    id: str
    alertname: str
    camera_id: str
    severity: str
    status: str  # "active" | "acknowledged" | "cleared" | "resolved" (app.alerts.evaluator.AlertStatus)
    summary: str
    started_at: float
    updated_at: float
    acknowledged_at: float | None = None
    acknowledged_by: str = ""
    ack_note: str = ""
    resolved_at: float | None = None
    resolved_by: str = ""
    resolve_note: str = ""
    labels: tuple[tuple[str, str], ...] = ()
    cleared_at: float | None = None
    shelved_until: float | None = None
    shelved_by: str = ""
    shelve_note: str = ""


@dataclass(frozen=True, slots=True)
class MotionEventRecord:
    camera_id: str
    started_at: float
    ended_at: float
    peak_area: float = 0.0  # fraction of the frame (0..1) or score, as the motion feature defines it
    regions: tuple = ()  # JSON-able: e.g. ((x, y, w, h), ...) normalised
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class RecordingSegmentRecord:
    camera_id: str
    path: str
    started_at: float
    ended_at: float
    size_bytes: int = 0
    has_motion: bool = False
    locked: bool = False

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


@dataclass(frozen=True, slots=True)
class SegmentRemovedRecord:
    path: str


@dataclass(frozen=True, slots=True)
class SegmentLockRecord:
    path: str
    locked: bool


WRITE_RECORDS = (CameraRecord, StateChangeRecord, HealthSampleRecord, AlertRecord, MotionEventRecord,
                 RecordingSegmentRecord, SegmentRemovedRecord, SegmentLockRecord)  # fmt: skip

# ------------------------------------------------------------------ returned by the repository


@dataclass(frozen=True, slots=True)
class CameraInfo:
    camera_id: str
    name: str
    group: str
    first_seen: float
    last_seen: float


@dataclass(frozen=True, slots=True)
class StateEventRow:
    camera_id: str
    at: float
    old_state: str
    new_state: str
    reason: str


@dataclass(frozen=True, slots=True)
class SamplePoint:
    """One point of a chart: a raw sample or a roll-up bucket (``samples`` > 1, ``at`` = bucket start)."""

    at: float
    fps: float
    bitrate_bps: float
    latency_ms: float
    live_fraction: float
    samples: int = 1
    fps_min: float | None = None
    latency_max: float | None = None


@dataclass(frozen=True, slots=True)
class SampleSeries:
    camera_id: str
    resolution: str  # "raw" | "1m" | "1h"
    points: tuple[SamplePoint, ...]


@dataclass(frozen=True, slots=True)
class StateSpan:
    camera_id: str
    state: str
    start: float
    end: float
    reason: str = ""

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True, slots=True)
class Availability:
    """Time LIVE vs down in a range. ``unknown_s`` = not monitored (Vigil stopped, camera disabled)."""

    camera_id: str
    start: float
    end: float
    up_s: float
    down_s: float
    unknown_s: float
    outages: int

    @property
    def ratio(self) -> float | None:
        known = self.up_s + self.down_s
        return self.up_s / known if known > 0 else None


@dataclass(frozen=True, slots=True)
class DayAvailability:
    camera_id: str
    day: str  # YYYY-MM-DD in the requested time zone
    availability: Availability


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """The store's health for the operator (status bar) and for diagnostics. ``message`` is the sentence."""

    queued: int  # queue depth: records waiting or held (not yet committed)
    written_total: int
    dropped_total: int
    failed_attempts: int
    last_error: str  # "" when the last write succeeded; the reason history is off when state == "off"
    last_error_at: float
    rejected_total: int = 0  # rows the database refused as invalid (logged, skipped)
    state: str = "ready"  # "starting" (opening the database) | "ready" | "off" (can never work) | "stopped"

    @property
    def healthy(self) -> bool:
        return not self.last_error and self.state in ("starting", "ready")

    @property
    def message(self) -> str:
        """One short sentence an operator can act on, e.g.
        ``history not written: the database is locked by another program (database is locked); 1,204 rows held``.
        """
        n = self.queued
        if self.state == "off":
            text = f"history is off: {self.last_error}"
            if self.dropped_total:
                text += f"; {self.dropped_total:,} records not kept"
            return text
        if self.last_error:
            text = f"history not written: {self.last_error}; {n:,} {'row' if n == 1 else 'rows'} held, retrying"
        elif self.state == "starting":
            text = "history starting: opening the database" + (f" ({n:,} rows waiting)" if n else "")
        elif self.state == "stopped":
            text = "history stopped" + (f" with {n:,} rows not written" if n else "")
        else:
            text = "history OK" + (f" ({n:,} rows queued)" if n else "")
        if self.dropped_total:
            text += f"; {self.dropped_total:,} records dropped (queue full)"
        return text


@dataclass(frozen=True, slots=True)
class HistoryBundle:
    """Everything the history view shows for one camera and range, fetched in one background query."""

    camera_id: str
    start: float
    end: float
    series: SampleSeries
    spans: tuple[StateSpan, ...]
    events: tuple[StateEventRow, ...]
    availability: Availability
    alerts: tuple[AlertRecord, ...] = field(default_factory=tuple)
