"""Recording wiring without streams: the index adapter keeps the folder index when the store refuses, and
the recordings-disk alert names the level where the recorder really stops."""

from __future__ import annotations

import logging
from pathlib import Path

from app.compose import recording_disk_watch
from app.config import AlertSettings, AppConfig, RecordingSettings
from app.recording.index import MirroredIndex
from app.recording.recorder import MIN_FREE_BYTES
from app.recording.segments import DirectoryIndex, Segment, StoredMotionEvent
from app.recording.service import RecorderService
from app.store import Store
from app.store.db import sqlite_url


def _segment(root: Path, name: str) -> Segment:
    path = root / "dock" / "2024-01-01" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"x")
    return Segment("dock", str(path), 1.0, 2.0, 1)


def test_a_store_that_refuses_never_costs_the_folder_index_its_entry(tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    root = tmp_path / "rec"
    not_started = Store(sqlite_url(tmp_path / "a.sqlite3"))  # submit raises: a wiring error
    stopped = Store(sqlite_url(tmp_path / "b.sqlite3"))  # submit returns False
    stopped.start()
    stopped.stop()
    for store in (not_started, stopped):
        index = MirroredIndex(DirectoryIndex(root), lambda s=store: s)
        segs = [_segment(root, f"dock_20240101T00000{i}_000Z_1000.mp4") for i in range(2)]
        for s in segs:
            index.add_segment(s)  # recover_parts at start-up, the recorder's last segment at stop
        index.add_motion_event(StoredMotionEvent("dock", 1.0, 2.0, 0.5))
        index.lock_segment(segs[0].path, True)
        index.remove_segment(segs[1].path)
        assert index.directory.added == segs
        assert index.motion_events("dock")[-1].peak_score == 0.5
    said = [r.getMessage() for r in caplog.records if "history store did not take" in r.getMessage()]
    assert len(said) == 8  # once per kind of call and store, not once per record
    assert any("Store.submit before Store.start" in m for m in said)
    assert any("history stopped" in m for m in said)


def _watch(tmp_path, reserve_mb: float, min_free_gb: float = 0.0):
    cfg = AppConfig(recording=RecordingSettings(root=str(tmp_path), reserve_mb=reserve_mb),
                    alerts=AlertSettings(disk_min_free_gb=min_free_gb))  # fmt: skip
    return recording_disk_watch(cfg, RecorderService(cfg.recording, tmp_path))


def test_disk_alert_names_the_reserve_in_mib_and_the_recorders_own_floor(tmp_path):
    w = _watch(tmp_path, reserve_mb=500)
    assert w.note == "recording stops below 500 MiB" and w.min_free_bytes == 500 * 2**20
    w = _watch(tmp_path, reserve_mb=0)  # the recorder still stops below MIN_FREE_BYTES
    assert w.note == f"recording stops below {MIN_FREE_BYTES // 2**20} MiB" and w.min_free_bytes == MIN_FREE_BYTES
    w = _watch(tmp_path, reserve_mb=0, min_free_gb=2)  # the operator's floor is higher: it decides when
    assert w.min_free_bytes == 2e9 and w.note == "recording stops below 4 MiB"
