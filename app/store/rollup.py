"""Roll-ups and retention: a pure policy plus a job the writer thread runs about once a minute.

raw samples --(1-min buckets)--> health_rollups(resolution 60) --(1-h buckets)--> health_rollups(3600)

Each run aggregates only complete buckets newer than what is already rolled up (a watermark per
resolution), at most ``MAX_CATCHUP_S`` of raw time per run so a long outage never makes one huge
transaction. Then rows older than their retention are deleted, so the database stays bounded:
roughly (cameras x samples/s x raw window) + (cameras x 1440 x 30) + (cameras x 24 x 365) rows.

Late samples: a sample can be committed after its minute was rolled up (it sat in the writer's queue
behind a locked database, or behind a backlog while maintenance ran). The watermark alone would never
look back, so :class:`RollupJob` (owned by the writer thread) notes the (camera, minute) of every sample
committed below the minute watermark and the next run *re-rolls* those buckets: the minute bucket is
recomputed from all its raw rows and the hour bucket from all its minute rows (delete + insert in the
same transaction, so it is idempotent and portable between SQLite and PostgreSQL).
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, delete, func, insert, select

from app.store import models as m
from app.store.records import HealthSampleRecord

MINUTE, HOUR = 60, 3600
LAG_S = 15.0  # a bucket is rolled up only this long after it ends (samples in the queue arrive late)
MAX_CATCHUP_S = 6 * 3600.0


@dataclass(frozen=True, slots=True)
class RetentionPolicy:
    raw_s: float = 24 * 3600.0
    minute_s: float = 30 * 86400.0
    hour_s: float = 365 * 86400.0

    @classmethod
    def from_settings(cls, s) -> RetentionPolicy:
        return cls(s.raw_retention_h * 3600.0, s.minute_retention_days * 86400.0, s.hour_retention_days * 86400.0)

    def cutoffs(self, now: float) -> dict[str, float]:
        """Delete rows older than these times (pure)."""
        return {"raw": now - self.raw_s, "minute": now - self.minute_s, "hour": now - self.hour_s,
                "events": now - self.hour_s, "alerts": now - self.hour_s}  # fmt: skip


def bucket_of(t: float, resolution: int) -> float:
    return math.floor(t / resolution) * resolution


def aggregate(rows: Iterable[tuple], resolution: int) -> list[dict]:
    """Pure: rows of (camera_id, at, fps, bitrate, latency, live, weight, fps_min, latency_max) -> bucket dicts.

    ``weight`` is 1 for raw samples and the sample count for a finer roll-up, so averages stay exact.
    """
    acc: dict[tuple[str, float], list[float]] = defaultdict(lambda: [0, 0.0, math.inf, 0.0, 0.0, 0.0, 0.0])
    for cam, at, fps, bitrate, latency, live, weight, fps_min, lat_max in rows:
        a = acc[(cam, bucket_of(at, resolution))]
        a[0] += weight
        a[1] += fps * weight
        a[2] = min(a[2], fps_min)
        a[3] += bitrate * weight
        a[4] += latency * weight
        a[5] = max(a[5], lat_max)
        a[6] += live * weight
    out = []
    for (cam, b), (n, fps_s, fps_min, br_s, lat_s, lat_max, live_s) in sorted(acc.items()):
        if n <= 0:
            continue
        out.append({"camera_id": cam, "resolution_s": resolution, "bucket_start": b, "samples": int(n),
                    "fps_avg": fps_s / n, "fps_min": 0.0 if fps_min == math.inf else fps_min,
                    "bitrate_avg": br_s / n, "latency_avg": lat_s / n, "latency_max": lat_max,
                    "live_fraction": live_s / n})  # fmt: skip
    return out


def _watermark(conn: Connection, resolution: int) -> float | None:
    r = m.HealthRollup.__table__
    return conn.execute(select(func.max(r.c.bucket_start)).where(r.c.resolution_s == resolution)).scalar()


def _roll(conn: Connection, resolution: int, now: float, cap: float | None = None) -> int:
    """Aggregate complete buckets of *resolution* from the next finer level. Returns rows written.

    *cap*: never roll a bucket ending after this (hours stop before the first raw sample the minute pass
    has not reached, so an hour is never built from half its minutes during a catch-up)."""
    r = m.HealthRollup.__table__
    if resolution == MINUTE:
        src = m.HealthSample.__table__
        at_col = src.c.at
        first_q = select(func.min(at_col))
    else:
        src = r
        at_col = r.c.bucket_start
        first_q = select(func.min(at_col)).where(r.c.resolution_s == MINUTE)
    wm = _watermark(conn, resolution)
    if wm is not None:  # skip empty stretches (Vigil was off): start at the next source row after the watermark
        first_q = first_q.where(at_col >= wm + resolution)
    first = conn.execute(first_q).scalar()
    if first is None:
        return 0
    start = bucket_of(first, resolution)
    end = min(bucket_of(now - LAG_S, resolution), start + bucket_of(MAX_CATCHUP_S, resolution))
    if cap is not None:
        end = min(end, bucket_of(cap, resolution))
    if end <= start:
        return 0
    buckets = aggregate(_source_rows(conn, resolution, start, end), resolution)
    if buckets:
        conn.execute(insert(r), buckets)
    return len(buckets)


def _source_rows(conn: Connection, resolution: int, start: float, end: float, cameras: Iterable[str] | None = None):
    """Rows for :func:`aggregate` from the level below *resolution* in [start, end)."""
    r = m.HealthRollup.__table__
    if resolution == MINUTE:
        s = m.HealthSample.__table__
        q = select(s.c.camera_id, s.c.at, s.c.fps, s.c.bitrate_bps, s.c.latency_ms, s.c.state)
        q = q.where(s.c.at >= start, s.c.at < end)
        if cameras is not None:
            q = q.where(s.c.camera_id.in_(list(cameras)))
        return ((c, at, fps, br, lat, 1.0 if st == "LIVE" else 0.0, 1, fps, lat)
                for c, at, fps, br, lat, st in conn.execute(q))  # fmt: skip
    q = select(r.c.camera_id, r.c.bucket_start, r.c.fps_avg, r.c.bitrate_avg, r.c.latency_avg,
               r.c.live_fraction, r.c.samples, r.c.fps_min, r.c.latency_max)  # fmt: skip
    q = q.where(r.c.resolution_s == MINUTE, r.c.bucket_start >= start, r.c.bucket_start < end)
    if cameras is not None:
        q = q.where(r.c.camera_id.in_(list(cameras)))
    return conn.execute(q)


def reroll(conn: Connection, late: Iterable[tuple[str, float]], now: float, policy: RetentionPolicy) -> dict[str, int]:
    """Recompute the minute buckets in *late* ((camera_id, minute bucket start) that received samples after
    they were rolled up) from raw, then the hour buckets holding them from minutes. Idempotent.

    Buckets whose raw rows are already partly past retention are left alone (recomputing them from what is
    left would lose samples; the late rows there are deleted by the same run anyway). Hour buckets are only
    rebuilt if that hour was rolled up already (otherwise the normal pass builds it later)."""
    c = policy.cutoffs(now)
    by_minute: dict[float, set[str]] = defaultdict(set)
    for cam, b in late:
        b = bucket_of(b, MINUTE)
        if b >= c["raw"]:
            by_minute[b].add(cam)
    hour_wm = _watermark(conn, HOUR)
    hours: dict[float, set[str]] = defaultdict(set)
    for b, cams in by_minute.items():
        h = bucket_of(b, HOUR)
        if hour_wm is not None and h <= hour_wm and h >= c["minute"]:
            hours[h] |= cams
    minutes = _reroll(conn, MINUTE, by_minute)  # minutes first: the hours are built from them
    return {"minute_rerolled": minutes, "hour_rerolled": _reroll(conn, HOUR, hours)}


def _reroll(conn: Connection, resolution: int, buckets: dict[float, set[str]]) -> int:
    """Recompute the given buckets of one resolution for the given cameras; returns the rows written."""
    r = m.HealthRollup.__table__
    written = 0
    for b, cams in sorted(buckets.items()):
        conn.execute(delete(r).where(r.c.resolution_s == resolution, r.c.bucket_start == b, r.c.camera_id.in_(cams)))
        rows = aggregate(_source_rows(conn, resolution, b, b + resolution, cams), resolution)
        if rows:
            conn.execute(insert(r), rows)
        written += len(rows)
    return written


def _first_unrolled_sample(conn: Connection) -> float | None:
    """The oldest raw sample not yet in a minute roll-up (None: all are). Hours stop before its minute."""
    until = minute_rolled_until(conn)
    s = m.HealthSample.__table__
    q = select(func.min(s.c.at))
    if math.isfinite(until):
        q = q.where(s.c.at >= until)
    first = conn.execute(q).scalar()
    return None if first is None else bucket_of(first, MINUTE)


def minute_rolled_until(conn: Connection) -> float:
    """Minute buckets starting before this are rolled up (-inf when nothing is)."""
    wm = _watermark(conn, MINUTE)
    return -math.inf if wm is None else wm + MINUTE


def run_maintenance(conn: Connection, now: float, policy: RetentionPolicy,
                    late: Iterable[tuple[str, float]] = ()) -> dict[str, int]:  # fmt: skip
    """Re-roll buckets that got late samples, roll up, then delete expired rows. One transaction (the
    caller's). Returns counts."""
    out = reroll(conn, late, now, policy)
    out["minute"] = _roll(conn, MINUTE, now)
    out["hour"] = _roll(conn, HOUR, now, cap=_first_unrolled_sample(conn))
    c = policy.cutoffs(now)
    s, r, e, a = m.HealthSample.__table__, m.HealthRollup.__table__, m.StateEvent.__table__, m.Alert.__table__
    out["raw_deleted"] = conn.execute(delete(s).where(s.c.at < c["raw"])).rowcount
    out["minute_deleted"] = conn.execute(
        delete(r).where(r.c.resolution_s == MINUTE, r.c.bucket_start < c["minute"])).rowcount  # fmt: skip
    out["hour_deleted"] = conn.execute(
        delete(r).where(r.c.resolution_s == HOUR, r.c.bucket_start < c["hour"])).rowcount  # fmt: skip
    out["events_deleted"] = conn.execute(delete(e).where(e.c.at < c["events"])).rowcount
    out["alerts_deleted"] = conn.execute(
        delete(a).where(a.c.status == "resolved", a.c.updated_at < c["alerts"])).rowcount  # fmt: skip
    return out


class RollupJob:
    """The writer thread's maintenance: roll-ups (with late-sample re-rolls) and retention.

    Only the writer thread calls it, in the order it commits batches, so ``rolled_until`` is exact: a
    sample committed after a run with ``at`` below it landed in a bucket that run already aggregated.
    The set of late buckets is cleared only after the maintenance transaction committed; if it fails, the
    same buckets are re-rolled next time.
    """

    def __init__(self, policy: RetentionPolicy, clock: Callable[[], float]) -> None:
        self.policy = policy
        self._clock = clock
        self.rolled_until = -math.inf  # read by prime(); nothing counts as late before that
        self._late: set[tuple[str, float]] = set()
        self.last_counts: dict[str, int] = {}

    def prime(self, engine: Engine) -> None:
        """Read the minute watermark once the database is open (before the first batch is written)."""
        with engine.connect() as conn:
            self.rolled_until = minute_rolled_until(conn)

    def note_committed(self, records: Iterable[object]) -> None:
        """Called after every committed batch: remember samples that landed in already rolled-up minutes."""
        until = self.rolled_until
        for r in records:
            if type(r) is HealthSampleRecord and r.at < until:
                self._late.add((r.camera_id, bucket_of(r.at, MINUTE)))

    def run(self, engine: Engine) -> dict[str, int]:
        late = set(self._late)
        with engine.begin() as conn:
            counts = run_maintenance(conn, self._clock(), self.policy, late)
            until = minute_rolled_until(conn)
        self._late -= late  # committed: these are rolled up now
        self.rolled_until = until
        self.last_counts = counts
        return counts
