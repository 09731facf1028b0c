"""Recording disk full, end to end: a real recorder (RecorderService) records the lab's RTSP camera into a real
folder; then the disk is "full" (the recorder's reserve is set above the free space, so it refuses the next
segment, as it does on a really full disk). The alert engine, built through the same wiring as the app
(``recording_alert_inputs``), must raise RecordingStopped and DiskFull in words; the closed segments stay
byte-identical and playable; the pipeline keeps running; recording resumes when space comes back."""

from __future__ import annotations

import re
import shutil

import pytest

from app.alerts import AlertEngine
from app.compose import recording_disk_watch
from app.config import AlertSettings, AppConfig, CameraConfig, RecordingSettings
from app.pipeline.pipeline import CameraPipeline
from app.pipeline.state import StreamState
from app.recording.segments import scan_segments
from app.recording.service import RecorderService
from tests.helpers import decoded_pictures, sha256_of, wait_for

pytestmark = pytest.mark.lab
MIB = 1024 * 1024


def test_full_recording_disk_raises_alerts_and_keeps_closed_segments(rtsp_lab, tmp_path):
    root = tmp_path / "recordings"  # recording.root: not Vigil's data folder
    cfg = AppConfig(
        cameras=[CameraConfig(id="dock", name="Dock", url=rtsp_lab.url(1), recording={"mode": "continuous"})],
        recording=RecordingSettings(root=str(root), segment_seconds=1, reserve_mb=0),
        alerts=AlertSettings(debounce_s=0, clear_s=0, disk_min_free_gb=0),
    )
    cam = cfg.cameras[0]
    svc = RecorderService(cfg.recording, root)
    pipe = CameraPipeline(cam.id, cam.name, cam.url)
    svc.start()
    svc.attach(pipe, cam)
    pipe.start()
    try:
        wait_for(lambda: len(scan_segments(root)) >= 2, timeout=90, what="two closed segments")
        before = {s.path: sha256_of(s.path) for s in scan_segments(root)}

        # the disk fills up: less free than the reserve (what the recorder checks before every segment)
        full_mb = (shutil.disk_usage(root).free + 10**12) / MIB
        cfg.recording.reserve_mb = full_mb
        svc.recorder("dock").reserve_bytes = int(full_mb * MIB)
        # what app.compose.add_alerts hands the engine
        engine = AlertEngine(cfg.alerts, lambda: {"dock": pipe.snapshot()}, None,
                             disk_watches=[recording_disk_watch(cfg, svc)], recording_errors=svc.errors,
                             sinks=[])  # fmt: skip
        events = []

        def stopped() -> bool:
            events.extend(engine.evaluate_once())
            return any(e.alert.alertname == "RecordingStopped" for e in events)

        wait_for(stopped, timeout=30, interval=0.2, what="the RecordingStopped alert")
        by_name = {e.alert.alertname: e.alert for e in events if e.kind == "fired"}
        rec = by_name["RecordingStopped"]
        assert rec.severity == "CRITICAL" and rec.camera_id == "dock"
        assert re.fullmatch(rf"recording of Dock stopped: disk full: \d+ MB free on {re.escape(str(root))}, "
                            r"recording stopped", rec.summary), rec.summary  # fmt: skip
        disk = by_name["DiskFull"]
        assert disk.summary.startswith(f"disk nearly full on recordings disk {root}: ")
        assert "free, less than" in disk.summary and "recording stops below" in disk.summary

        # nothing crashed: the camera is still LIVE, the recorder reports the error, nothing is left open
        assert pipe.snapshot().state is StreamState.LIVE
        status = svc.statuses()["dock"]
        assert status.state == "error" and status.current_path is None
        assert not list(root.rglob("*.part"))
        # the closed segments are untouched and play; the one open when the disk filled was closed and plays
        after = scan_segments(root)
        assert {s.path: sha256_of(s.path) for s in after if s.path in before} == before
        for s in after:
            assert decoded_pictures(s.path) >= 1, s.path

        # space comes back: the recorder retries by itself, the alarm clears (and, unacknowledged, stays
        # in the list until an operator acknowledges it: ISA-18.2)
        svc.recorder("dock").reserve_bytes = 0
        n = len(after)
        wait_for(lambda: len(scan_segments(root)) > n and not svc.errors(), timeout=60, what="recording to resume")
        cleared = []
        wait_for(lambda: cleared.extend(e for e in engine.evaluate_once() if e.kind == "cleared") or cleared,
                 timeout=10, what="the alarm to clear")  # fmt: skip
        assert [e.alert.alertname for e in cleared] == ["RecordingStopped"]
        stopped = next(a for a in engine.active() if a.alertname == "RecordingStopped")
        assert engine.acknowledge(stopped.id, "night shift").status.value == "resolved"
    finally:
        pipe.stop()
        svc.stop()
