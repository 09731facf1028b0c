"""Read functions: a connection in, plain frozen records out. Run them through ``Store.query`` (reader
threads), never on the GUI thread.

Availability: LIVE is up; STALLED, OFFLINE, ERROR and CONNECTING are down (no usable picture); IDLE is
"not monitored" (Vigil stopped or the camera disabled) and counts as neither. A span runs from one state
change to the next; the state in effect at the start of a range is the last change before it.

Long reads are cut into short statements (``READ_CHUNK`` rows each, keyset pagination on a unique key:
``_chunked``). With SQLite's rollback journal a commit has to wait until every reader is done, and a
statement holds its shared lock until it has returned its last row: one statement over weeks of samples
or the whole segment index held the writer up for seconds, past ``busy_timeout``. The connection runs no
transaction around reads (the SQLite driver begins one only for writes), so the lock is released between
chunks and the writer commits there. The cost: a read that spans chunks is not one snapshot (a row
written meanwhile may or may not be in it), which none of these reads needs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime, timedelta, timezone, tzinfo

from sqlalchemy import Connection, Row, Select, select, tuple_

from app.store import models as m
from app.store.records import (
    AlertRecord,
    Availability,
    CameraInfo,
    DayAvailability,
    HistoryBundle,
    SamplePoint,
    SampleSeries,
    StateEventRow,
    StateSpan,
)
from app.store.rollup import HOUR, MINUTE

UP_STATES = frozenset({"LIVE"})
DOWN_STATES = frozenset({"STALLED", "OFFLINE", "ERROR", "CONNECTING"})

READ_CHUNK = 2000  # rows per statement of a long read: a few milliseconds of shared lock each


def _chunked(conn: Connection, q: Select, keys: tuple, limit: int | None = None,
             chunk: int | None = None) -> Iterator[Row]:  # fmt: skip
    """The rows of *q* in the order of *keys* (columns that are unique together, e.g. ``(at, id)``), read
    *chunk* (default ``READ_CHUNK``) rows per statement (keyset pagination: each statement starts after the
    last row of the one before). The key columns are added at the end of each row: callers use
    ``row[:-len(keys)]``."""
    q = q.add_columns(*(k.label(f"_key{i}") for i, k in enumerate(keys))).order_by(*keys)  # labels: no name clash
    width = len(keys)
    chunk = chunk or READ_CHUNK
    last: tuple | None = None
    left = limit
    while left is None or left > 0:
        n = chunk if left is None else min(chunk, left)
        page = q if last is None else q.where(tuple_(*keys) > tuple_(*last))
        rows = conn.execute(page.limit(n)).all()  # all(): the statement is done and its lock released
        yield from rows
        if len(rows) < n:
            return
        last = tuple(rows[-1][-width:])
        if left is not None:
            left -= len(rows)


def cameras(conn: Connection) -> tuple[CameraInfo, ...]:
    t = m.Camera.__table__
    rows = conn.execute(select(t.c.id, t.c.name, t.c.group_name, t.c.first_seen, t.c.last_seen).order_by(t.c.id))
    return tuple(CameraInfo(*r) for r in rows)


def known_camera_ids(conn: Connection) -> list[str]:
    """Cameras in the cameras table or with any state event (history outlives the config)."""
    t = m.StateEvent.__table__
    return sorted({c.camera_id for c in cameras(conn)} | {r[0] for r in conn.execute(select(t.c.camera_id).distinct())})


def state_events(conn: Connection, camera_ids: Iterable[str] | None, start: float, end: float,
                 limit: int = 10_000) -> tuple[StateEventRow, ...]:  # fmt: skip
    t = m.StateEvent.__table__
    q = select(t.c.camera_id, t.c.at, t.c.old_state, t.c.new_state, t.c.reason).where(t.c.at >= start, t.c.at < end)
    if camera_ids is not None:
        q = q.where(t.c.camera_id.in_(list(camera_ids)))
    return tuple(StateEventRow(*r[:5]) for r in _chunked(conn, q, (t.c.at, t.c.id), limit))


def choose_resolution(start: float, end: float) -> str:
    """Raw up to 6 h, 1-min roll-ups up to 7 days, 1-h beyond (a chart never needs more than ~10k points)."""
    span = end - start
    if span <= 6 * 3600:
        return "raw"
    if span <= 7 * 86400:
        return "1m"
    return "1h"


def samples(conn: Connection, camera_id: str, start: float, end: float, resolution: str = "auto") -> SampleSeries:
    res = choose_resolution(start, end) if resolution == "auto" else resolution
    order = ["raw", "1m", "1h"]
    # fall back to a coarser level when the chosen one has been pruned (e.g. raw older than 24 h)
    for level in order[order.index(res) :]:
        pts = _points(conn, camera_id, start, end, level)
        if pts or level == "1h":
            return SampleSeries(camera_id, level, pts)
    return SampleSeries(camera_id, res, ())


def _points(conn: Connection, camera_id: str, start: float, end: float, level: str) -> tuple[SamplePoint, ...]:
    if level == "raw":
        t = m.HealthSample.__table__
        q = (select(t.c.at, t.c.fps, t.c.bitrate_bps, t.c.latency_ms, t.c.state)
             .where(t.c.camera_id == camera_id, t.c.at >= start, t.c.at < end))  # fmt: skip
        return tuple(SamplePoint(at, fps, br, lat, 1.0 if st == "LIVE" else 0.0) for at, fps, br, lat, st, *_key
                     in _chunked(conn, q, (t.c.at, t.c.id)))  # fmt: skip
    r = m.HealthRollup.__table__
    resolution = MINUTE if level == "1m" else HOUR
    q = (select(r.c.bucket_start, r.c.fps_avg, r.c.bitrate_avg, r.c.latency_avg, r.c.live_fraction, r.c.samples,
                r.c.fps_min, r.c.latency_max)
         .where(r.c.camera_id == camera_id, r.c.resolution_s == resolution, r.c.bucket_start >= start - resolution,
                r.c.bucket_start < end))  # fmt: skip
    # (camera, resolution) fixed: bucket_start is the rest of the primary key
    return tuple(SamplePoint(*row[:8]) for row in _chunked(conn, q, (r.c.bucket_start,)))


def _state_at(conn: Connection, camera_id: str, at: float) -> tuple[str, str] | None:
    t = m.StateEvent.__table__
    row = conn.execute(select(t.c.new_state, t.c.reason).where(t.c.camera_id == camera_id, t.c.at < at)
                       .order_by(t.c.at.desc(), t.c.id.desc()).limit(1)).first()  # fmt: skip
    return (row[0], row[1]) if row else None


def state_spans(conn: Connection, camera_id: str, start: float, end: float) -> tuple[StateSpan, ...]:
    """Coloured bands for the timeline: consecutive states covering [start, end) (gaps before the first
    known state are left out)."""
    initial = _state_at(conn, camera_id, start)
    events = state_events(conn, [camera_id], start, end, limit=1_000_000)
    return spans_from_events(camera_id, initial, events, start, end)


def spans_from_events(camera_id: str, initial: tuple[str, str] | None, events: Iterable[StateEventRow],
                      start: float, end: float) -> tuple[StateSpan, ...]:  # fmt: skip
    """Pure: the state in effect at *start* plus the changes inside the range -> spans."""
    out: list[StateSpan] = []
    cur_state, cur_reason, cur_start = (initial[0], initial[1], start) if initial else (None, "", start)
    for ev in events:
        if cur_state is not None and ev.at > cur_start:
            out.append(StateSpan(camera_id, cur_state, cur_start, ev.at, cur_reason))
        cur_state, cur_reason, cur_start = ev.new_state, ev.reason, max(ev.at, start)
    if cur_state is not None and end > cur_start:
        out.append(StateSpan(camera_id, cur_state, cur_start, end, cur_reason))
    return tuple(out)


def availability_from_spans(camera_id: str, spans: Iterable[StateSpan], start: float, end: float) -> Availability:
    """Pure: sum spans into up / down / unknown time and count outages (entries into a down state)."""
    up = down = 0.0
    outages = 0
    prev_down = False
    for s in spans:
        d = max(0.0, min(s.end, end) - max(s.start, start))
        is_down = s.state in DOWN_STATES
        if s.state in UP_STATES:
            up += d
        elif is_down:
            down += d
            if not prev_down:
                outages += 1
        prev_down = is_down
    unknown = max(0.0, (end - start) - up - down)
    return Availability(camera_id, start, end, up, down, unknown, outages)


def availability(conn: Connection, camera_id: str, start: float, end: float, now: float | None = None) -> Availability:
    end_eff = min(end, now) if now is not None else end
    return availability_from_spans(camera_id, state_spans(conn, camera_id, start, end_eff), start, end_eff)


def availability_by_day(conn: Connection, camera_id: str, first_day: str, days: int, tz: tzinfo | None = None,
                        now: float | None = None) -> tuple[DayAvailability, ...]:  # fmt: skip
    """Availability per calendar day (in *tz*, default UTC) starting at *first_day* (YYYY-MM-DD)."""
    tz = tz or timezone.utc  # noqa: UP017 - explicit for readers
    d0 = datetime.strptime(first_day, "%Y-%m-%d").replace(tzinfo=tz)
    out = []
    for i in range(days):
        a, b = (d0 + timedelta(days=i)).timestamp(), (d0 + timedelta(days=i + 1)).timestamp()
        if now is not None and a >= now:
            break
        out.append(DayAvailability(camera_id, (d0 + timedelta(days=i)).strftime("%Y-%m-%d"),
                                   availability(conn, camera_id, a, b, now)))  # fmt: skip
    return tuple(out)


def downtime_summary(conn: Connection, start: float, end: float, camera_ids: Iterable[str] | None = None,
                     now: float | None = None) -> tuple[Availability, ...]:  # fmt: skip
    """Every camera's availability in the range, longest down first (the wall-level summary)."""
    ids = list(camera_ids) if camera_ids is not None else known_camera_ids(conn)
    rows = [availability(conn, cid, start, end, now) for cid in ids]
    return tuple(sorted(rows, key=lambda a: (-a.down_s, a.camera_id)))


def _alert_from_row(r) -> AlertRecord:
    labels = r.labels or {}
    return AlertRecord(r.id, r.alertname, r.camera_id, r.severity, r.status, r.summary, r.started_at, r.updated_at,
                       r.acknowledged_at, r.acknowledged_by, r.ack_note, r.resolved_at, r.resolved_by,
                       r.resolve_note, tuple(sorted((str(k), str(v)) for k, v in labels.items())), r.cleared_at,
                       r.shelved_until, r.shelved_by, r.shelve_note)  # fmt: skip


def alerts(conn: Connection, start: float, end: float, camera_ids: Iterable[str] | None = None,
           status: str | None = None) -> tuple[AlertRecord, ...]:  # fmt: skip
    """Alerts that were open at any time in [start, end)."""
    t = m.Alert.__table__
    q = select(t).where(t.c.started_at < end, (t.c.resolved_at.is_(None)) | (t.c.resolved_at >= start))
    if camera_ids is not None:
        q = q.where(t.c.camera_id.in_(list(camera_ids)))
    if status is not None:
        q = q.where(t.c.status == status)
    return tuple(_alert_from_row(r) for r in _chunked(conn, q, (t.c.started_at, t.c.id)))


def open_alerts(conn: Connection) -> tuple[AlertRecord, ...]:
    """Alerts not yet resolved (the engine adopts them at start-up)."""
    t = m.Alert.__table__
    q = select(t).where(t.c.status != "resolved").order_by(t.c.started_at)
    return tuple(_alert_from_row(r) for r in conn.execute(q))


def history_bundle(conn: Connection, camera_id: str, start: float, end: float, now: float | None = None,
                   resolution: str = "auto") -> HistoryBundle:  # fmt: skip
    end_eff = min(end, now) if now is not None else end
    spans = state_spans(conn, camera_id, start, end_eff)
    return HistoryBundle(
        camera_id, start, end,
        samples(conn, camera_id, start, end, resolution),
        spans,
        state_events(conn, [camera_id], start, end),
        availability_from_spans(camera_id, spans, start, end_eff),
        alerts(conn, start, end, [camera_id]),
    )  # fmt: skip


def motion_events(conn: Connection, camera_id: str, start: float, end: float) -> tuple[dict, ...]:
    t = m.MotionEventRow.__table__
    q = select(t).where(t.c.camera_id == camera_id, t.c.started_at < end, t.c.ended_at >= start)
    return tuple(dict(r._mapping) for r in conn.execute(q.order_by(t.c.started_at)))


def recording_segments(conn: Connection, camera_id: str, start: float, end: float) -> tuple[dict, ...]:
    t = m.RecordingSegmentRow.__table__
    q = select(t).where(t.c.camera_id == camera_id, t.c.started_at < end, t.c.ended_at >= start)
    return tuple(dict(r._mapping) for r in conn.execute(q.order_by(t.c.started_at)))


def recording_segment_index(conn: Connection) -> tuple[dict, ...]:
    """Every indexed segment (path, camera, times, size, lock), all cameras: what the recordings index
    reconciles with the files on disk at start-up (``app.recording.index.IndexReconciler``). Read by primary
    key, ``READ_CHUNK`` rows per statement: a large index never holds the writer up (module docstring)."""
    t = m.RecordingSegmentRow.__table__
    cols = (t.c.path, t.c.camera_id, t.c.started_at, t.c.ended_at, t.c.size_bytes, t.c.locked)
    names = [c.name for c in cols]
    return tuple(dict(zip(names, r[: len(cols)], strict=True)) for r in _chunked(conn, select(*cols), (t.c.id,)))
