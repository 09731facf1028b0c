"""Late samples: rows that reach the database after their minute was rolled up are re-rolled (minute and
hour), on SQLite and PostgreSQL, through the real writer thread."""

from __future__ import annotations

import pytest

from app.store import Store, repository
from app.store.records import HealthSampleRecord
from app.store.rollup import bucket_of
from app.store.writer import StoreWriter

T0 = 1_700_000_000.0  # 800 s into its hour
B = bucket_of(T0, 60)  # a minute boundary; B .. B + 600 lies inside one hour
NOW = T0 + 2 * 3600  # the hour is complete; raw rows are well inside the 24 h retention


def sample(cam, at, state="LIVE", fps=25.0):
    return HealthSampleRecord(cam, at, state, fps, 2e6, 40.0)


def test_late_samples_queued_behind_a_rollup_are_rolled_up(db_url):
    store = Store(db_url, periodic_maintenance=False, clock=lambda: NOW)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        for i in range(600):  # ten minutes; c1 misses its 6th minute, which arrives late
            if not 300 <= i < 360:
                store.submit(sample("c1", B + i))
            store.submit(sample("c2", B + i))
        first = store.run_maintenance()  # rolls up all ten minutes and the hour ...
        for i in range(300, 360):  # ... while these are still queued behind it
            store.submit(sample("c1", B + i, "STALLED", 10.0))
        for k in range(10):
            store.submit(sample("c2", B + 30.5 + k, "OFFLINE", 0.0))  # extra rows for a minute already rolled
        second = store.run_maintenance()
        assert first is not None and second is not None
        assert store.flush(60) and first.wait(30) and second.wait(30), store.status().message
        assert store.rollups.last_counts["minute_rerolled"] == 2 and store.rollups.last_counts["hour_rerolled"] == 2

        c1 = store.query(repository.samples, "c1", B, B + 600, "1m").result(30).points
        assert [p.samples for p in c1] == [60] * 10
        late = c1[5]
        assert (late.at, late.fps, late.live_fraction) == (B + 300, pytest.approx(10.0), 0.0)
        c2 = store.query(repository.samples, "c2", B, B + 600, "1m").result(30).points
        assert c2[0].samples == 70 and c2[0].fps == pytest.approx(60 * 25.0 / 70) and c2[0].fps_min == 0.0

        (h1,) = store.query(repository.samples, "c1", B - 3600, B + 3600, "1h").result(30).points
        assert h1.samples == 600 and h1.live_fraction == pytest.approx(540 / 600)
        (h2,) = store.query(repository.samples, "c2", B - 3600, B + 3600, "1h").result(30).points
        assert h2.samples == 610 and h2.fps == pytest.approx(600 * 25.0 / 610)

        again = store.run_maintenance()  # idempotent: nothing late any more, nothing changes
        assert store.flush(30) and again is not None and again.wait(30)
        assert store.rollups.last_counts["minute_rerolled"] == 0
        assert store.query(repository.samples, "c2", B - 3600, B + 3600, "1h").result(30).points == (h2,)
    finally:
        store.stop()


def test_periodic_maintenance_waits_for_a_backlog(tmp_path):
    """Roll-ups are deferred while more than one batch is queued (up to four more intervals)."""
    w = StoreWriter(open_db=lambda: None, maintenance=object(), maintenance_interval_s=60, batch_max=10)  # type: ignore[arg-type]
    assert w._maintenance_due(100.0, 99.0)  # due, queue empty
    for i in range(10):
        w.submit(sample("c1", T0 + i))
    assert not w._maintenance_due(100.0, 99.0)  # a batch or more is queued: write it first
    assert w._maintenance_due(100.0 + 4 * 60, 99.0)  # but not for ever
