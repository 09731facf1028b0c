"""Migrations: from an empty database (see test_store) and from the previous schema with rows in it."""

from __future__ import annotations

import sqlalchemy as sa

from app.store import Store, repository
from app.store import db as store_db
from app.store.db import create_store_engine, migrations_dir

T0 = 1_700_000_000.0


def test_migration_scripts_found_relative_to_module():
    d = migrations_dir()
    assert (d / "env.py").is_file()
    assert sorted(p.name for p in (d / "versions").glob("0*.py")) == ["0001_initial.py",
                                                                     "0002_rollups_motion_recording.py",
                                                                     "0003_alarm_states.py"]  # fmt: skip


def test_upgrade_from_first_revision_keeps_rows(db_url):
    engine = create_store_engine(db_url)
    try:
        store_db.upgrade(engine, "0001")
        assert store_db.current_revision(engine) == "0001"
        tables = store_db.table_names(engine)
        assert "alerts" in tables and "health_rollups" not in tables and "motion_events" not in tables
        with engine.begin() as c:
            c.execute(sa.text("INSERT INTO cameras (id, name, group_name, first_seen, last_seen) "
                              "VALUES ('cam1', 'Lobby', 'HQ', :t, :t)"), {"t": T0})  # fmt: skip
            c.execute(sa.text("INSERT INTO state_events (camera_id, at, old_state, new_state, reason) "
                              "VALUES ('cam1', :t, 'IDLE', 'OFFLINE', 'refused')"), {"t": T0})  # fmt: skip
            c.execute(sa.text("INSERT INTO alerts (id, alertname, camera_id, severity, status, summary, started_at, "
                              "updated_at, acknowledged_at, acknowledged_by, ack_note, resolved_at, resolved_by) "
                              "VALUES ('old-1', 'CameraOffline', 'cam1', 'CRITICAL', 'acknowledged', 'down', :t, :t,"
                              " :t, 'night shift', 'called site', NULL, '')"), {"t": T0})  # fmt: skip
    finally:
        engine.dispose()
    # start-up migrates to head, rows survive, new columns have their defaults
    store = Store(db_url)
    store.start()
    try:
        assert store.wait_ready(60), store.status().message
        assert store_db.current_revision(store.engine) == "0003"
        assert {"health_rollups", "motion_events", "recording_segments"} <= store_db.table_names(store.engine)
        (old,) = store.query(repository.open_alerts).result(30)
        assert (old.id, old.acknowledged_by, old.ack_note, old.resolve_note, old.labels) == (
            "old-1", "night shift", "called site", "", ())  # fmt: skip
        assert (old.cleared_at, old.shelved_until, old.shelved_by, old.shelve_note) == (None, None, "", "")
        ev = store.query(repository.state_events, ["cam1"], T0 - 1, T0 + 1).result(30)
        assert [(e.new_state, e.reason) for e in ev] == [("OFFLINE", "refused")]
        # and the new schema is writable
        assert store.record_motion_event("cam1", T0, T0 + 1, 0.5)
        assert store.flush(30)
        assert len(store.query(repository.motion_events, "cam1", T0 - 1, T0 + 2).result(30)) == 1
    finally:
        store.stop()
    # a second start is a no-op upgrade
    again = Store(db_url)
    again.start()
    try:
        assert again.wait_ready(60), again.status().message
        assert store_db.current_revision(again.engine) == "0003"
        assert len(again.query(repository.cameras).result(30)) == 1
    finally:
        again.stop()
