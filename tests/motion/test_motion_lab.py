"""Motion service end to end: Runtime + supervisor + the install() wiring, on a lab RTSP stream with
moving content (testsrc2), a static synthetic source, and the moving stream fully masked."""

from __future__ import annotations

import time

import pytest

from app.compose import add_recording
from app.config import AppConfig, CameraConfig, MotionSettings
from app.paths import Paths
from app.runtime import Runtime

pytestmark = pytest.mark.lab

FULL = [(0.0, 0.0), (1.0, 0.0), (1.0, 1.0), (0.0, 1.0)]


def wait_for(cond, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.1)
    return cond()


def test_motion_on_lab_streams(rtsp_lab, tmp_path):
    on = MotionSettings(enabled=True, analysis_fps=5, sensitivity=0.6, min_area_percent=0.2)
    cfg = AppConfig(cameras=[
        # mount 2 is GStreamer's moving ball: motion all the time (mount 1's only motion is its small clock
        # overlay, which may rightly fall under min_area between two analysed frames)
        CameraConfig(id="moving", name="Moving", url=rtsp_lab.url(2), motion=on),
        CameraConfig(id="static", name="Static", url="lavfi://color=c=gray:size=320x180:rate=15", motion=on),
        CameraConfig(id="masked", name="Masked", url=rtsp_lab.url(3), motion=on.model_copy(update={"masks": [FULL]})),
        CameraConfig(id="nomotion", name="No motion", url="lavfi://color=c=gray:size=320x180:rate=15"),
    ])  # fmt: skip
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    rt = Runtime(config=cfg, paths=paths)
    add_recording(rt)
    motion = rt.motion
    events = []
    motion.subscribe(events.append)
    rt.start()
    try:
        assert wait_for(lambda: (s := motion.state("moving")) is not None and s.active), motion.states()
        assert wait_for(lambda: all(motion.state(c).frames_analysed >= 15 for c in ("static", "masked")))
        st = motion.state("moving")
        assert st.regions and st.since is not None and st.events_total >= 1
        start_ev = next(e for e in events if e.camera_id == "moving")
        assert start_ev.regions and all(0 <= r.x <= 1 and 0 < r.w <= 1 for r in start_ev.regions)
        assert not motion.state("static").active and motion.state("static").events_total == 0
        assert not motion.state("masked").active and motion.state("masked").events_total == 0
        assert motion.state("nomotion") is None  # not analysed at all
        assert any(e.camera_id == "moving" and e.end is None for e in events)
        # the analysis rate is the configured one, not the 15 fps of the stream
        t0, n0 = time.monotonic(), motion.state("static").frames_analysed
        time.sleep(3)
        rate = (motion.state("static").frames_analysed - n0) / (time.monotonic() - t0)
        assert rate <= 5.5
    finally:
        rt.stop()
