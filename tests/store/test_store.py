"""The same store tests on SQLite and PostgreSQL (``db_url`` is parametrised)."""

from __future__ import annotations

import time

import pytest

from app.store import Store, repository
from app.store import db as store_db
from app.store.records import (
    AlertRecord,
    CameraRecord,
    HealthSampleRecord,
    SamplePoint,
)
from app.store.rollup import RetentionPolicy, run_maintenance
from tests.helpers import wait_for

T0 = 1_700_000_000.0  # a fixed past time (2023-11-14T22:13:20Z)


def test_migrates_empty_database_to_head(store):
    assert store_db.current_revision(store.engine) == store_db.head_revision() == "0003"
    assert {"cameras", "state_events", "health_samples", "health_rollups", "alerts", "motion_events",
            "recording_segments"} <= store_db.table_names(store.engine)  # fmt: skip


def test_state_changes_and_availability(store):
    store.submit(CameraRecord("cam1", "Lobby", "HQ", T0))
    store.record_state_change("cam1", T0, "IDLE", "CONNECTING", "connecting")
    store.record_state_change("cam1", T0 + 10, "CONNECTING", "LIVE", "receiving pictures")
    store.record_state_change("cam1", T0 + 100, "LIVE", "OFFLINE", "connection refused")
    store.record_state_change("cam1", T0 + 160, "OFFLINE", "LIVE", "receiving pictures")
    store.record_state_change("cam1", T0 + 400, "LIVE", "IDLE", "Vigil stopped")
    assert store.flush(30)
    cams = store.query(repository.cameras).result(30)
    assert [(c.camera_id, c.name, c.group) for c in cams] == [("cam1", "Lobby", "HQ")]
    events = store.query(repository.state_events, ["cam1"], T0, T0 + 1000).result(30)
    assert [e.new_state for e in events] == ["CONNECTING", "LIVE", "OFFLINE", "LIVE", "IDLE"]
    assert events[2].reason == "connection refused"
    av = store.query(repository.availability, "cam1", T0, T0 + 500).result(30)
    # up: 10..100 and 160..400 = 330 s; down: CONNECTING 0..10 + OFFLINE 100..160 = 70 s; unknown: 400..500
    assert (av.up_s, av.down_s, av.unknown_s) == pytest.approx((330, 70, 100))
    assert av.outages == 2
    assert av.ratio == pytest.approx(330 / 400)
    # a range starting mid-outage takes the state in effect before it
    av2 = store.query(repository.availability, "cam1", T0 + 130, T0 + 190).result(30)
    assert (av2.up_s, av2.down_s) == pytest.approx((30, 30))
    spans = store.query(repository.state_spans, "cam1", T0 + 50, T0 + 200).result(30)
    assert [(s.state, s.start, s.end) for s in spans] == [("LIVE", T0 + 50, T0 + 100), ("OFFLINE", T0 + 100, T0 + 160),
                                                          ("LIVE", T0 + 160, T0 + 200)]  # fmt: skip


def test_availability_per_day_and_downtime_summary(store):
    day = 86400.0
    d0 = (T0 // day) * day  # UTC midnight
    store.record_state_change("a", d0 - 3600, "IDLE", "LIVE", "")
    store.record_state_change("a", d0 + 6 * 3600, "LIVE", "OFFLINE", "cable cut")
    store.record_state_change("a", d0 + 12 * 3600, "OFFLINE", "LIVE", "")
    store.record_state_change("b", d0, "IDLE", "LIVE", "")
    assert store.flush(30)
    first = time.strftime("%Y-%m-%d", time.gmtime(d0))
    days = store.query(repository.availability_by_day, "a", first, 2, now=d0 + 2 * day).result(30)
    assert [d.availability.ratio for d in days] == pytest.approx([0.75, 1.0])
    summary = store.query(repository.downtime_summary, d0, d0 + day, now=d0 + day).result(30)
    assert [(a.camera_id, a.down_s) for a in summary] == [("a", 6 * 3600), ("b", 0)]


def test_samples_rollups_and_retention(store):
    for cam in ("c1", "c2"):
        for i in range(600):  # 10 minutes at 1 sample/s, LIVE except the last 2 minutes
            state = "LIVE" if i < 480 else "STALLED"
            store.submit(HealthSampleRecord(cam, T0 + i, state, 25.0 if state == "LIVE" else 0.0, 2e6, 40.0 + i % 3))
    assert store.flush(60)
    raw = store.query(repository.samples, "c1", T0, T0 + 600, "raw").result(30)
    assert raw.resolution == "raw" and len(raw.points) == 600
    policy = RetentionPolicy(raw_s=300, minute_s=86400, hour_s=10 * 86400)
    with store.engine.begin() as conn:
        counts = run_maintenance(conn, T0 + 700, policy)
    assert counts["minute"] == 2 * 11  # T0 is 20 s past a minute boundary: 11 minute buckets per camera
    assert counts["raw_deleted"] == 2 * 400  # raw older than now - 300 s
    minute = store.query(repository.samples, "c1", T0 - 60, T0 + 600, "1m").result(30)
    assert sum(p.samples for p in minute.points) == 600
    full = [p for p in minute.points if p.samples == 60]
    assert full and all(isinstance(p, SamplePoint) for p in full)
    assert full[0].fps == pytest.approx(25.0) and full[0].live_fraction == 1.0
    assert full[0].latency_max == pytest.approx(42.0)
    assert minute.points[-1].live_fraction == 0.0
    # running again adds nothing (watermark), later the hour bucket appears
    with store.engine.begin() as conn:
        assert run_maintenance(conn, T0 + 760, policy)["minute"] == 0
        hour = run_maintenance(conn, T0 + 4 * 3600, policy)["hour"]
    assert hour == 2
    hourly = store.query(repository.samples, "c1", T0 - 3600, T0 + 3600, "1h").result(30)
    assert len(hourly.points) == 1 and hourly.points[0].samples == 600
    assert hourly.points[0].live_fraction == pytest.approx(480 / 600)
    # auto resolution over a month falls back to what exists
    month = store.query(repository.samples, "c1", T0 - 30 * 86400, T0 + 3600).result(30)
    assert month.resolution == "1h" and len(month.points) == 1
    # retention of roll-ups
    with store.engine.begin() as conn:
        c = run_maintenance(conn, T0 + 20 * 86400, policy)
    assert c["minute_deleted"] == 22 and c["hour_deleted"] == 2


def test_alert_lifecycle_upserts_one_row(store):
    base = AlertRecord("a-1", "CameraOffline", "cam1", "CRITICAL", "active", "cam1 is offline", T0, T0,
                       labels=(("group", "HQ"),))  # fmt: skip
    store.record_alert(base)
    from dataclasses import replace

    store.record_alert(replace(base, status="acknowledged", acknowledged_at=T0 + 5, acknowledged_by="op",
                               ack_note="on it", updated_at=T0 + 5))  # fmt: skip
    assert store.flush(30)
    assert [a.status for a in store.query(repository.open_alerts).result(30)] == ["acknowledged"]
    done = replace(base, status="resolved", acknowledged_at=T0 + 5, acknowledged_by="op", ack_note="on it",
                   resolved_at=T0 + 60, resolved_by="auto", updated_at=T0 + 60)  # fmt: skip
    store.record_alert(done)
    assert store.flush(30)
    rows = store.query(repository.alerts, T0, T0 + 100).result(30)
    assert len(rows) == 1
    a = rows[0]
    assert (a.status, a.acknowledged_by, a.ack_note, a.resolved_by) == ("resolved", "op", "on it", "auto")
    assert dict(a.labels) == {"group": "HQ"}
    assert store.query(repository.open_alerts).result(30) == ()
    assert store.query(repository.alerts, T0 + 61, T0 + 100).result(30) == ()  # closed before the range


def test_motion_and_recording_api(store):
    assert store.record_motion_event("cam1", T0, T0 + 4, 0.12, ((0.1, 0.1, 0.2, 0.3),), ("person",))
    assert store.record_segment("cam1", "/rec/cam1/a.mp4", T0, T0 + 10, 123456, has_motion=True)
    assert store.record_segment("cam1", "/rec/cam1/b.mp4", T0 + 10, T0 + 20, 1000)
    store.lock_segment("/rec/cam1/a.mp4")
    store.remove_segment("/rec/cam1/b.mp4")
    assert store.flush(30)
    ev = store.query(repository.motion_events, "cam1", T0, T0 + 100).result(30)
    assert ev[0]["labels"] == ["person"] and ev[0]["regions"] == [[0.1, 0.1, 0.2, 0.3]]
    segs = store.query(repository.recording_segments, "cam1", T0, T0 + 100).result(30)
    assert [(s["path"], s["duration_s"], s["locked"], s["has_motion"]) for s in segs] == [
        ("/rec/cam1/a.mp4", 10.0, True, True)]  # fmt: skip


def test_bad_record_is_skipped_not_blocking(store):
    assert store.submit(object())  # not a store record: refused by the writer, logged, skipped
    store.record_state_change("cam1", T0, "IDLE", "LIVE", "x" * 5000)  # long reasons are cut, not refused
    assert store.flush(30)
    st = store.status()
    assert st.rejected_total == 1 and st.healthy
    assert len(store.query(repository.state_events, None, T0 - 1, T0 + 1).result(30)) == 1


def test_unreachable_server_holds_rows_and_says_why_without_password(caplog):
    s = Store("postgresql+psycopg2://vigil:secret-pw@127.0.0.1:1/vigil")  # nothing listens on port 1
    s.start()
    try:
        assert s.submit(CameraRecord("a", "A"))  # held, not dropped: the server may come up later
        wait_for(lambda: s.status().failed_attempts >= 1, what="a failed open attempt")
        st = s.status()
        assert st.state == "starting" and not st.healthy and st.queued == 1
        assert st.message.startswith("History not written for ")
        assert ": 1 record held, 0 lost — cannot open the database: the database server is unreachable" in st.message
        assert st.message.endswith("; retrying")
        assert "secret-pw" not in st.message and "secret-pw" not in caplog.text
        assert "cannot open the database" in caplog.text
    finally:
        s.stop(drain_timeout_s=0.5)


def test_url_that_can_never_work_turns_history_off():
    s = Store("not a database url")
    s.start()
    try:
        wait_for(lambda: s.status().state == "off", what="history to be off")
        assert s.unavailable.startswith("database URL 'not a database url' is not a SQLAlchemy URL")
        assert s.submit(CameraRecord("a", "A")) is False
        assert s.status().message.startswith("history is off: database URL")
        with pytest.raises(store_db.StoreError, match="not a SQLAlchemy URL"):
            s.query(repository.cameras)
        assert s.flush(1) is False
    finally:
        s.stop()
