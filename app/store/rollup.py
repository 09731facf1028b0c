"""Roll-ups and retention: a pure policy plus a job the writer thread runs about once a minute.

raw samples --(1-min buckets)--> health_rollups(resolution 60) --(1-h buckets)--> health_rollups(3600)

Each run aggregates only complete buckets newer than what is already rolled up (a watermark per
resolution), at most ``MAX_CATCHUP_S`` of raw time per run so a long outage never makes one huge
transaction. Then rows older than their retention are deleted, so the database stays bounded:
roughly (cameras x samples/s x raw window) + (cameras x 1440 x 30) + (cameras x 24 x 365) rows.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, delete, func, insert, select

from app.store import models as m

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


def _roll(conn: Connection, resolution: int, now: float) -> int:
    """Aggregate complete buckets of *resolution* from the next finer level. Returns rows written."""
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
    if end <= start:
        return 0
    if resolution == MINUTE:
        q = select(src.c.camera_id, src.c.at, src.c.fps, src.c.bitrate_bps, src.c.latency_ms, src.c.state)
        q = q.where(at_col >= start, at_col < end)
        rows = ((c, at, fps, br, lat, 1.0 if st == "LIVE" else 0.0, 1, fps, lat)
                for c, at, fps, br, lat, st in conn.execute(q))  # fmt: skip
    else:
        q = select(r.c.camera_id, r.c.bucket_start, r.c.fps_avg, r.c.bitrate_avg, r.c.latency_avg,
                   r.c.live_fraction, r.c.samples, r.c.fps_min, r.c.latency_max)  # fmt: skip
        q = q.where(r.c.resolution_s == MINUTE, at_col >= start, at_col < end)
        rows = conn.execute(q)
    buckets = aggregate(rows, resolution)
    if buckets:
        conn.execute(insert(r), buckets)
    return len(buckets)


def run_maintenance(conn: Connection, now: float, policy: RetentionPolicy) -> dict[str, int]:
    """Roll up, then delete expired rows. Runs inside the writer's transaction. Returns counts."""
    out = {"minute": _roll(conn, MINUTE, now), "hour": _roll(conn, HOUR, now)}
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
