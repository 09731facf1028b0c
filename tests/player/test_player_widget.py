"""Player widget (offscreen Qt, PyAV path) and the libvlc backend (libvlc is installed here)."""

from __future__ import annotations

import time

import pytest

from app.recording.playback import Timeline
from widgets.player import PlayerWidget, VlcBackend, vlc_instance

pytestmark = pytest.mark.lab


def timeline(index) -> Timeline:
    return Timeline("play", tuple(index.segments("play")), tuple(index.motion_events("play")))


def test_player_widget_pyav_seek_play_next_event_snapshot(qtbot, recorded, tmp_path):
    _root, index, segs = recorded
    w = PlayerWidget(timeline(index), backend="pyav")
    qtbot.addWidget(w)
    try:
        assert w.backend_name == "pyav"
        target = segs[1].start + 0.4
        w.seek(target)
        qtbot.waitUntil(lambda: w.position is not None and abs(w.position - target) < 0.1, timeout=20_000)
        qtbot.waitUntil(lambda: w.picture.pixmap() is not None and not w.picture.pixmap().isNull(), timeout=20_000)
        # jump to the next motion event: seeks 1 s before the event at segs[2].start + 1.0
        w.next_event()
        ev = segs[2].start + 1.0
        qtbot.waitUntil(lambda: abs(w.position - (ev - 1.0)) < 0.15, timeout=20_000)
        # clicking the timeline bar seeks there
        w.bar.resize(400, 30)
        x = w.bar.x_for(segs[0].start + 1.0)
        w.bar.seek_requested.emit(w.bar.t_for(x))
        qtbot.waitUntil(lambda: abs(w.position - (segs[0].start + 1.0)) < 0.15, timeout=20_000)
        w.set_speed(4.0)
        w.toggle_play()
        start = w.position
        qtbot.waitUntil(lambda: w.position > start + 1.0, timeout=20_000)
        w.toggle_play()
        png = w.snapshot(tmp_path / "s.png")
        assert png.stat().st_size > 1000
    finally:
        w.close_player()


def test_vlc_backend_plays_and_seeks_a_segment(recorded):
    inst = vlc_instance(("--quiet", "--vout=dummy", "--aout=dummy", "--no-xlib"))
    assert inst is not None, "libvlc is installed on this machine (apt vlc): it must load"
    _root, index, segs = recorded
    b = VlcBackend(timeline(index), inst)
    try:
        target = segs[1].start + 1.0
        b.seek(target)
        b.play()
        deadline = time.monotonic() + 20
        t = None
        while time.monotonic() < deadline:
            t = b.current_time()
            if t is not None and t >= target - 0.1:
                break
            time.sleep(0.05)
        assert t is not None and target - 0.1 <= t <= segs[1].end + 0.5, (t, target)
    finally:
        b.stop()
