"""Picture/audio health on real pipelines (lavfi sources, the lab's RTMP with AAC), through the supervisor hook."""

from __future__ import annotations

import time

import pytest

from app.config import AppConfig, CameraConfig
from app.health.picture import HealthMonitor
from app.pipeline.supervisor import Supervisor
from probes.base import ProbeResult


def wait_for(fn, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(0.2)
    return fn()


@pytest.fixture
def running():
    made = []

    def start(cams):
        sup = Supervisor(AppConfig(cameras=cams))
        health = HealthMonitor(sup).install()
        sup.start()
        made.append(sup)
        return sup, health

    yield start
    for s in made:
        assert s.stop()


def test_black_and_frozen_and_network_condition_on_live_pipelines(running):
    fast = {"black_threshold_ms": 500, "freeze_threshold_ms": 1000}
    cams = [
        CameraConfig(name="black", url="lavfi://color=c=black:size=320x240:rate=10", thresholds=fast),
        CameraConfig(name="bars", url="lavfi://smptebars=size=320x240:rate=10", thresholds=fast),
        CameraConfig(name="moving", url="lavfi://testsrc2=size=320x240:rate=10", thresholds=fast),
    ]
    sup, health = running(cams)
    snaps = lambda: sup.snapshots()  # noqa: E731
    assert wait_for(lambda: "BLACK" in snaps()["black"].conditions), snaps()["black"]
    assert snaps()["black"].mean_luma is not None and snaps()["black"].mean_luma < 20
    assert wait_for(lambda: "FROZEN" in snaps()["bars"].conditions), snaps()["bars"]
    time.sleep(1.5)
    assert not {"FROZEN", "BLACK"} & set(snaps()["moving"].conditions), snaps()["moving"]
    assert snaps()["moving"].is_live
    # a probe's finding joins the picture conditions without replacing them
    health.on_probe_results(None, [ProbeResult("hls", "black", ok=False, camera_id="black",
                                               conditions=("HLS_STALE",))])  # fmt: skip
    assert wait_for(lambda: {"BLACK", "HLS_STALE"} <= set(snaps()["black"].conditions))
    health.on_probe_results(None, [ProbeResult("hls", "black", ok=True, camera_id="black")])
    assert wait_for(lambda: "HLS_STALE" not in snaps()["black"].conditions)
    assert "BLACK" in snaps()["black"].conditions
    # the network probe's word alone never takes a camera whose stream is up off the network
    health.on_probe_results(None, [ProbeResult("network", "black", ok=False, state="NETWORK_DOWN",
                                               camera_id="black", conditions=("NETWORK_DOWN",))])  # fmt: skip
    time.sleep(0.5)
    assert "NETWORK_DOWN" not in snaps()["black"].conditions
    assert health.camera("moving").frames_analysed > 0


@pytest.mark.lab
def test_audio_level_from_rtmp_aac(running, rtmp_lab):
    sup, _ = running([CameraConfig(name="rtmp", url=rtmp_lab.url)])
    snap = wait_for(lambda: (s := sup.snapshots()["rtmp"]).audio_level_dbfs is not None and s, timeout=30)
    assert snap, sup.snapshots()["rtmp"]
    assert -60 < snap.audio_level_dbfs < 0  # the lab publishes an audible sine
    assert "SILENT" not in snap.conditions


def test_the_demo_wall_raises_no_false_frozen_or_black(running):
    """A new user's first look: every built-in demo camera really moves, so none may be called FROZEN or BLACK
    (judged with a strict 1 s freeze threshold, ten times tighter than the CCTV template's)."""
    from app.demo import demo_cameras

    strict = {"black_threshold_ms": 500, "freeze_threshold_ms": 1000}
    cams = [c.model_copy(update={"thresholds": strict, "url": c.url.split("&outage=")[0]}) for c in demo_cameras()]
    sup, health = running(cams)
    assert wait_for(lambda: all(s.is_live for s in sup.snapshots().values()), timeout=40), sup.snapshots()
    seen: dict[str, set[str]] = {}
    deadline = time.monotonic() + 5.0
    while time.monotonic() < deadline:
        for cid, s in sup.snapshots().items():
            seen.setdefault(cid, set()).update({"FROZEN", "BLACK"} & set(s.conditions))
        time.sleep(0.2)
    assert not {cid: c for cid, c in seen.items() if c}, seen
    assert all(health.camera(c.id).frames_analysed > 5 for c in cams)
