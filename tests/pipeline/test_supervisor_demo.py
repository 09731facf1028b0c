"""Supervisor and the built-in demo wall, with real synthetic sources (no server)."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from app.config import AppConfig, CameraConfig, PipelineSettings
from app.demo import demo_config
from app.pipeline.state import StreamState
from app.pipeline.supervisor import StateChange, Supervisor
from tests.pipeline.conftest import wait_for

ROOT = Path(__file__).resolve().parents[2]


def _fast(cfg: AppConfig) -> AppConfig:
    cfg.pipeline = PipelineSettings(backoff_initial_s=0.2, backoff_cap_s=1.0, stall_after_s=2.0)
    return cfg


def test_demo_wall_cameras_go_live_and_differ():
    cfg = _fast(demo_config())
    assert len(cfg.cameras) == 9 and len({c.id for c in cfg.cameras}) == 9
    sup = Supervisor(cfg)
    sup.start()
    try:
        for p in sup.pipelines()[:3]:
            p.set_output_size(160, 90)
        wait_for(lambda: sum(s.state is StreamState.LIVE for s in sup.snapshots().values()) >= 8, 30,
                 what="demo cameras LIVE")  # fmt: skip
        frames = [wait_for(lambda p=p: p.slot.latest(), what="frame") for p in sup.pipelines()[:3]]
        means = {round(float(f.image.mean()), 1) for f in frames}
        assert len(means) == 3, "each demo tile shows a different picture"
    finally:
        assert sup.stop() is True
    assert not [t for t in threading.enumerate() if t.name.startswith("camera:")]


def test_flaky_demo_camera_goes_offline_and_recovers_by_itself():
    cfg = _fast(AppConfig(cameras=[CameraConfig(name="Flaky", url="demo://f?pattern=testsrc2&outage=2/5")]))
    sup = Supervisor(cfg)
    changes: list[StateChange] = []
    sup.subscribe(changes.append)
    sup.start()
    try:
        wait_for(lambda: any(c.new is StreamState.OFFLINE for c in changes), 15, what="OFFLINE")
        wait_for(lambda: [c.new for c in changes].count(StreamState.LIVE) >= 2, 20, what="LIVE again")
        offline = next(c for c in changes if c.new is StreamState.OFFLINE)
        assert "demo outage" in offline.reason and offline.camera_id == "flaky"
    finally:
        sup.stop()


def test_apply_config_adds_removes_and_disables():
    a = CameraConfig(name="A", url="demo://a?pattern=testsrc2")
    b = CameraConfig(name="B", url="demo://b?pattern=cellauto")
    sup = Supervisor(_fast(AppConfig(cameras=[a])))
    sup.start()
    try:
        wait_for(lambda: sup.snapshots()["a"].state is StreamState.LIVE, what="A live")
        sup.apply_config(_fast(AppConfig(cameras=[a.model_copy(update={"enabled": False}), b])))
        wait_for(lambda: sup.snapshots()["b"].state is StreamState.LIVE, what="B live")
        assert sup.pipeline("a") is None and sup.snapshots()["a"].reason == "disabled"
    finally:
        sup.stop()


def test_main_stream_opens_for_focus_and_closes():
    cam = CameraConfig(name="Dual", url="demo://m?pattern=testsrc2&size=1280x720",
                       sub_url="demo://s?pattern=testsrc2&size=320x180")  # fmt: skip
    sup = Supervisor(_fast(AppConfig(cameras=[cam])))
    sup.start()
    try:
        wait_for(lambda: sup.snapshots()["dual"].width == 320, what="sub-stream on the tile")
        main = sup.open_main("dual")
        assert main is not None and main.variant == "main"
        wait_for(lambda: main.snapshot().width == 1280, what="main stream")
        sup.close_main("dual")
        assert sup.pipeline("dual", "main") is None
    finally:
        sup.stop()


def test_headless_demo_runs_and_exits_cleanly(tmp_path):
    r = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--headless", "--demo", "--duration", "3", "--metrics-port", "0",
         "--data-dir", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert r.returncode == 0, r.stderr[-2000:]
    assert "LIVE" in r.stderr and "Vigil core stopped" in r.stderr


def test_invalid_config_exits_2_with_words(tmp_path):
    cfg = tmp_path / "vigil.json"
    cfg.write_text('{"cameras": [{"name": "x"}]}')
    r = subprocess.run([sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg)],
                       capture_output=True, text=True, timeout=60)  # fmt: skip
    assert r.returncode == 2
    assert "cameras.0.url" in r.stderr and "Field required" in r.stderr


def test_slow_decoder_drops_to_next_keyframe_instead_of_growing_latency():
    from app.pipeline.pipeline import CameraPipeline, PipelineOptions

    opts = PipelineOptions(threaded_decode=True, stall_after_s=30)
    p = CameraPipeline("slow", "Slow", "demo://s?pattern=testsrc2&rate=30", options=opts)
    p.set_output_size(64, 36)
    slow = threading.Event()

    def sink(frame, t):
        if slow.is_set():
            time.sleep(0.25)  # the decode thread now manages 4 fps of a 30 fps source

    p.add_frame_sink(sink, max_fps=0)
    p.start()
    try:
        wait_for(lambda: p.snapshot().state is StreamState.LIVE, what="live")
        slow.set()
        # drops by the packet queue (not display frames nobody read: those are slot.stale)
        wait_for(lambda: p.snapshot().frames_dropped_total - p.slot.stale > 30, 40, what="queue overflow drops")
        p.remove_frame_sink(sink)
        slow.clear()
        before = p.snapshot().frames_decoded_total
        wait_for(lambda: p.snapshot().frames_decoded_total > before + 30, 20, what="decoding at full rate again")
        assert p.snapshot().latency_ms < 1000  # caught up: latency did not keep the backlog
    finally:
        p.stop()


def _recording_dual_camera(**recording) -> AppConfig:
    from app.config import CameraRecordingSettings

    cam = CameraConfig(id="gate", name="Gate", url="demo://m?pattern=testsrc2&size=640x360&rate=10",
                       sub_url="demo://s?pattern=life&size=320x180&rate=10",
                       recording=CameraRecordingSettings(mode="continuous", **recording))  # fmt: skip
    return _fast(AppConfig(cameras=[cam]))


def test_recording_main_pipeline_serves_every_focused_view_and_forgets_its_picture_after():
    from app.pipeline.supervisor import MAIN

    sup = Supervisor(_recording_dual_camera())
    sup.start()
    try:
        main = sup.pipeline("gate", MAIN)
        assert main is not None and main.snapshot().keyframes_only  # recording only: keyframes
        assert sup.open_main("gate") is main and sup.open_main("gate") is main  # the wall and a page window
        main.set_output_size(320, 180)
        assert not main.snapshot().keyframes_only
        wait_for(lambda: main.slot.latest() is not None, what="a focused picture")
        sup.close_main("gate")  # the page window unfocuses: the wall still shows it
        assert not main.snapshot().keyframes_only and main.slot.latest() is not None
        sup.close_main("gate")  # the last view is gone
        assert sup.pipeline("gate", MAIN) is main and main.snapshot().keyframes_only
        # its last focused picture is gone too: a later focus must not show an old picture as live
        assert main.slot.latest() is None
    finally:
        sup.stop()


def test_a_recording_stream_edit_waits_for_the_next_start_and_never_feeds_one_recorder_twice():
    from app.pipeline.supervisor import MAIN

    sup = Supervisor(_recording_dual_camera(stream="sub"))
    fed: list[str] = []
    sup.add_record_hook(lambda p, cam: fed.append(p.variant))
    sup.start()
    try:
        assert fed == ["tile"] and sup.pipeline("gate", MAIN) is None
        sup.apply_config(_recording_dual_camera(stream="main"))  # no URL change: not restarted now
        view = sup.open_main("gate")  # a focus opens a view-only main pipeline ...
        assert view is not None and fed == ["tile"]  # ... that feeds no recorder
        sup.close_main("gate")
        assert sup.pipeline("gate", MAIN) is None  # and it closes with the view
    finally:
        sup.stop()
