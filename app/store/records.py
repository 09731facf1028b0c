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


RECOVERED_NOTICE_S = 300.0  # the status bar says "N held records written" this long after an outage


def duration_words(seconds: float) -> str:
    """``40 s``, ``2 min``, ``1 h 5 min``: how long, for an operator."""
    s = max(0, int(seconds))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min"
    h, m = divmod(s // 60, 60)
    return f"{h} h {m} min" if m else f"{h} h"


def _records(n: int) -> str:
    return f"{n:,} {'record' if n == 1 else 'records'}"


@dataclass(frozen=True, slots=True)
class WriterStatus:
    """The store's health for the operator (status bar), the ``HistoryNotWritten`` alert and ``/metrics``.
    ``message`` is the sentence; ``notice`` is it when there is something to tell."""

    queued: int  # queue depth: records waiting or held (not yet committed); after stop: records lost
    written_total: int
    dropped_total: int
    failed_attempts: int
    last_error: str  # "" when the last write succeeded; the reason history is off when state == "off"
    last_error_at: float
    rejected_total: int = 0  # rows the database refused as invalid (logged, skipped)
    state: str = "ready"  # "starting" (opening the database) | "ready" | "off" (can never work) | "stopped"
    at: float = 0.0  # UNIX time of this snapshot (durations in the sentence are counted to it)
    outage_since: float | None = None  # UNIX time history stopped being written (None: it is written)
    lost_in_outage: int = 0  # records dropped (queue full) during the current outage
    recovered_at: float | None = None  # when the backlog of the last outage was all written
    recovered_held: int = 0  # records held by the last outage (written after it ended)
    recovered_lost: int = 0  # records the last outage lost (queue full)
    recovered_outage_s: float = 0.0  # how long the last outage lasted
    recovery_left: int = 0  # held records of the last outage still to write (the backlog draining)
    journaled: int = 0  # records kept in the journal at stop (written at the next start)
    replayed: int = 0  # records written at start from the journal of the last stop
    busy_retries: int = 0  # quiet retries of a briefly locked database (shorter than the grace: no outage)

    @property
    def healthy(self) -> bool:
        return not self.last_error and self.outage_since is None and self.state in ("starting", "ready")

    @property
    def not_written(self) -> bool:
        """True while history cannot be written (an outage, or history off): raises the ``HistoryNotWritten``
        alert and sets ``vigil_history_write_ok`` to 0."""
        return self.state == "off" or (self.outage_since is not None and self.state != "stopped")

    @property
    def message(self) -> str:
        """One short sentence an operator can act on, e.g. ``History not written for 2 min: 81 records held,
        0 lost — the database is locked by another program (database is locked); retrying``."""
        n = self.queued
        if self.state == "off":
            text = f"history is off: {self.last_error}"
            if self.dropped_total:
                text += f"; {self.dropped_total:,} records not kept"
            return text
        if self.outage_since is not None and self.state != "stopped":
            text = (f"History not written for {duration_words(self.at - self.outage_since)}: {_records(n)} held, "
                    f"{self.lost_in_outage:,} lost")  # fmt: skip
            if self.lost_in_outage:
                text += " (queue full)"
            if self.last_error:
                text += f" — {self.last_error}; retrying"
            return text
        if self.state == "stopped":
            text = "history stopped" + (f" with {_records(n)} not written" if n else "")
            if self.journaled:
                text += f"; {_records(self.journaled)} kept in the journal for the next start"
        elif self.recovery_left:
            text = (f"History written again after {duration_words(self.recovered_outage_s)}: writing "
                    f"{self.recovered_held:,} held records ({self.recovery_left:,} left)")  # fmt: skip
        elif self.recovered_at is not None and 0 <= self.at - self.recovered_at < RECOVERED_NOTICE_S:
            text = (f"History written again: {self.recovered_held:,} held records written, {self.recovered_lost:,}"
                    f" lost (not written for {duration_words(self.recovered_outage_s)})")  # fmt: skip
        elif self.state == "starting":
            text = "history starting: opening the database" + (f" ({_records(n)} waiting)" if n else "")
        else:
            text = "history OK" + (f" ({_records(n)} queued)" if n else "")
        if self.dropped_total:
            text += f"; {self.dropped_total:,} records dropped (queue full)"
        return text

    @property
    def notice(self) -> str:
        """The sentence when the status bar should show it (not written, off, a backlog being written, or
        written again within ``RECOVERED_NOTICE_S``); "" when history is simply OK."""
        if not self.healthy or self.recovery_left:
            return self.message
        if self.recovered_at is not None and 0 <= self.at - self.recovered_at < RECOVERED_NOTICE_S:
            return self.message
        return ""


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
