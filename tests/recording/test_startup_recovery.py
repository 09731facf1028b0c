"""Start-up after an unclean stop, through the composition root (``main.build_runtime``), end to end.

A real recording of the lab's RTSP camera left a ``*.mp4.part`` in the recordings folder (as a crash does).
Vigil must start (the recorder's recovery indexes into the store, which must already be started), the part
must be recovered and be a row of the real SQLite history, and a stop must write the recorder's last
segment into the store before the store stops (services stop in reverse install order)."""

from __future__ import annotations

import logging
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine

import main
from app.config import AppConfig, CameraConfig, RecordingSettings, save_config
from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder
from app.recording.segments import DirectoryIndex, parse_segment, part_path, scan_segments
from app.store import repository
from tests.helpers import wait_for

pytestmark = pytest.mark.lab


def _one_real_segment(url: str, scratch: Path) -> Path:
    """One closed segment recorded from *url* by the real recorder."""
    index = DirectoryIndex(scratch)
    pipe = CameraPipeline("dock", "Dock", url)
    rec = CameraRecorder("dock", scratch, segment_seconds=1.0, reserve_mb=0, index=index)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        wait_for(lambda: index.added, timeout=90, what=f"a closed segment ({rec.status()})")
    finally:
        pipe.stop()
        rec.stop()
    return Path(index.added[0].path)


def _store_rows(db_file: Path) -> dict[str, dict]:
    engine = create_engine(f"sqlite:///{db_file}")
    try:
        with engine.connect() as conn:
            return {r["path"]: r for r in repository.recording_segments(conn, "dock", 0, 2e9)}
    finally:
        engine.dispose()


def test_vigil_starts_after_an_unclean_stop_recovers_the_part_into_the_store_and_stops_clean(
    rtsp_lab, tmp_path, caplog
):
    caplog.set_level(logging.INFO)
    data = tmp_path / "data"
    rec_root = data / "recordings"  # the default recordings folder of --data-dir
    # the crash: an open segment of a real recording, one hour ago, left as .part
    closed = _one_real_segment(rtsp_lab.url(1), tmp_path / "scratch")
    left_open = part_path(rec_root, "dock", time.time() - 3600)
    left_open.parent.mkdir(parents=True)
    shutil.copyfile(closed, left_open)

    cfg_file = tmp_path / "vigil.json"
    save_config(AppConfig(cameras=[CameraConfig(id="dock", name="Dock", url=rtsp_lab.url(1),
                                                recording={"mode": "continuous"})],
                          recording=RecordingSettings(segment_seconds=1, reserve_mb=0)), cfg_file)  # fmt: skip
    args = main.parse_args(["--config", str(cfg_file), "--data-dir", str(data), "--metrics-port", "0", "--headless"])
    runtime = main.build_runtime(args)
    names = [n for n, _ in runtime.services()]
    assert names.index("store") < names.index("recording")  # start order; stop is the reverse
    runtime.start()  # raised RuntimeError("Store.submit before Store.start") when recording started first
    stopped = False
    try:
        assert not left_open.exists()
        (recovered,) = [s for s in scan_segments(rec_root) if s.start < time.time() - 1800]
        assert Path(recovered.path).name.startswith(left_open.name.removesuffix(".mp4.part"))
        store = runtime.store
        assert store.wait_ready(60), store.status().message
        recorder = runtime.recording
        wait_for(lambda: len(scan_segments(rec_root)) >= 3, timeout=90,
                 what=f"live segments ({recorder.statuses()})")  # fmt: skip
        runtime.stop()
        stopped = True
    finally:
        if not stopped:
            runtime.stop()

    on_disk = {s.path: s for s in scan_segments(rec_root)}
    rows = _store_rows(data / "vigil.sqlite3")  # the real SQLite file, read after Vigil stopped
    assert recovered.path in rows and rows[recovered.path]["locked"] is False
    # every closed segment is in the store: the last one too, closed by the recorder's stop (store still up)
    assert set(rows) == set(on_disk), (set(on_disk) - set(rows), set(rows) - set(on_disk))
    assert not list(rec_root.rglob("*.part"))
    assert all(parse_segment(Path(p)) is not None for p in rows)
    problems = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING and
                ("store" in r.getMessage() or "history" in r.getMessage())]  # fmt: skip
    assert not problems
