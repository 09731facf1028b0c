"""Player widget (offscreen Qt, PyAV path) and the libvlc backend (libvlc is installed here)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

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
    tl = timeline(recorded[1])
    # segment k + 1 is the last full one (the fixture's last segment was cut short by its stop)
    k = len(tl.segments) - 3
    b = VlcBackend(tl, inst)
    try:
        # near the end of segment k, seeking while PAUSED: paused, plain playback gets nowhere, so only a
        # seek that libvlc really applied (after its input is playing) can bring the position there
        target = tl.segments[k].end - 0.6
        b.seek(target)

        def position_settles_at_target() -> bool:
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                b.tick()  # what the widget's GUI timer does every 40 ms
                t = b.current_time()
                if b._pending_ms is None and t is not None and abs(t - target) < 0.3:
                    return True
                time.sleep(0.04)
            return False

        assert position_settles_at_target(), (b.current_time(), target, b.player.get_state())
        assert b.index == k and not b.playing
        time.sleep(0.5)
        b.tick()
        assert abs(b.current_time() - target) < 0.3  # it stays paused there
        b.play()
        # playback runs off the end of segment k and must carry on into k + 1 by itself
        t = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            b.tick()
            t = b.current_time()
            if b.index == k + 1 and t is not None and t >= tl.segments[k + 1].start + 0.3:
                break
            time.sleep(0.04)
        assert b.index == k + 1 and b.segment_changes == 1, (b.index, t)
        assert t is not None and tl.segments[k + 1].start + 0.3 <= t <= tl.segments[k + 1].end + 0.5, t
    finally:
        b.stop()


CHILD = Path(__file__).with_name("player_child.py")


def run_child(root: Path, env: dict[str, str]) -> dict:
    r = subprocess.run([sys.executable, str(CHILD), str(root)], env=env, capture_output=True, text=True, timeout=90)
    assert r.returncode == 0, r.stderr[-3000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def crossed(out: dict) -> bool:
    return out["next_start"] + 0.3 <= (out["position"] or 0) <= out["next_end"] + 0.5


def test_auto_backend_on_x11_is_libvlc_and_plays_across_segments(recorded, xvfb):
    out = run_child(recorded[0], xvfb.env())
    assert out["platform"] == "xcb" and out["backend"] == "vlc", out
    assert out["vlc_index"] == out["k"] + 1 and crossed(out), out


def test_auto_backend_falls_back_to_pyav_when_libvlc_is_unusable(recorded, xvfb, tmp_path):
    # python-vlc pointed at a library that is not there (a broken install): it calls sys.exit(1) on import
    env = {**xvfb.env(), "PYTHON_VLC_LIB_PATH": str(tmp_path / "no" / "libvlc.so.5")}
    out = run_child(recorded[0], env)
    assert out["platform"] == "xcb" and out["backend"] == "pyav", out
    assert crossed(out) and out["picture"], out


def test_auto_backend_offscreen_is_pyav(qtbot, recorded):
    _root, index, segs = recorded
    w = PlayerWidget(timeline(index), backend="auto")
    qtbot.addWidget(w)
    try:
        assert w.backend_name == "pyav" and w.vlc is None  # libvlc cannot embed in an offscreen window
        w.seek(segs[1].start + 0.5)
        qtbot.waitUntil(lambda: w.picture.pixmap() is not None and not w.picture.pixmap().isNull(), timeout=20_000)
        assert abs(w.position - (segs[1].start + 0.5)) < 0.1
    finally:
        w.close_player()


def test_timeline_context_menu_locks_and_unlocks_a_segment(qtbot, recorded, tmp_path):

    from PySide6.QtCore import QPoint, Qt

    from app.recording.index import MirroredIndex
    from app.recording.segments import DirectoryIndex, is_locked, parse_segment
    from app.store import Store, repository
    from app.store.db import sqlite_url

    root = tmp_path / "rec"
    shutil.copytree(recorded[0], root)  # the session's files stay unlocked for the other tests
    store = Store(sqlite_url(tmp_path / "history.sqlite3"))
    store.start()
    index = MirroredIndex(DirectoryIndex(root), lambda: store)
    for s in index.segments("play"):
        index.add_segment(s)
    w = PlayerWidget(timeline(index), backend="pyav", index=index)
    qtbot.addWidget(w)
    w.resize(800, 500)
    w.show()
    try:
        seg = w.timeline.segments[1]
        x = int(w.bar.x_for((seg.start + seg.end) / 2))
        head = w.position

        def right_click_action():
            qtbot.mouseClick(w.bar, Qt.MouseButton.RightButton, pos=QPoint(x, w.bar.height() // 2))
            assert w.bar.menu is not None
            (act,) = w.bar.menu.actions()
            return act

        act = right_click_action()
        assert act.text().startswith("Lock segment")
        assert w.position == head  # a right-click does not seek
        act.trigger()
        qtbot.waitUntil(lambda: w.timeline.segments[1].locked, timeout=10_000)
        assert is_locked(seg.path) and parse_segment(Path(seg.path)).locked  # the marker: what retention reads
        assert not any(s.locked for i, s in enumerate(w.timeline.segments) if i != 1)
        assert "locked" in w.notice.text()
        assert store.flush(30)
        rows = {r["path"]: r["locked"] for r in store.query(repository.recording_segments, "play", 0, 2e9).result(30)}
        assert rows[seg.path] is True and sum(rows.values()) == 1  # the store mirrors it
        act = right_click_action()
        assert act.text().startswith("Unlock segment")
        act.trigger()
        qtbot.waitUntil(lambda: not w.timeline.segments[1].locked, timeout=10_000)
        assert not is_locked(seg.path)
        assert store.flush(30)
        rows = {r["path"]: r["locked"] for r in store.query(repository.recording_segments, "play", 0, 2e9).result(30)}
        assert not any(rows.values())
    finally:
        w.close_player()
        store.stop()


def test_marked_clip_exports_in_the_background_with_its_length(qtbot, recorded, tmp_path):
    """Mark in / mark out on the player, Export: the range is stream-copied off the GUI thread into one MP4."""
    import av

    _root, index, segs = recorded
    w = PlayerWidget(timeline(index), backend="pyav")
    qtbot.addWidget(w)
    try:
        a, b = segs[0].start + 0.5, segs[2].start + 1.0  # spans three segments
        w.mark_in(a)
        w.mark_out(a - 1)  # before the in point: refused in words, nothing marked
        assert w.clip_out is None and "after the in point" in w.notice.text()
        assert w.clip_range() == (a, a + 60.0)  # no out point: the default length from the in point
        w.mark_out(b)
        assert w.clip_range() == (a, b) and w.bar.clip == (a, b)
        out = tmp_path / "clip.mp4"
        with qtbot.waitSignal(w.file_written, timeout=60_000) as sig:
            w.export_in_background(*w.clip_range(), out)
        assert sig.args == ["clip", str(out), ""], sig.args
        assert w.notice.text() == f"Clip saved: {out}"
        with av.open(str(out)) as c:
            duration = float(c.duration) / 1e6
        assert abs(duration - (b - a)) < 1.2, duration  # cut at keyframes (GOP 1 s)
        (tmp_path / "a-file").write_text("x")
        bad = tmp_path / "a-file" / "clip.mp4"  # its "folder" is a file: the write must fail
        with qtbot.waitSignal(w.file_written, timeout=60_000) as sig:
            w.export_in_background(a, b, bad)
        assert sig.args[0] == "clip" and sig.args[2], "a write that fails must say why"
        assert w.notice.text().startswith("Could not write the clip:")
        png = tmp_path / "s.png"
        with qtbot.waitSignal(w.file_written, timeout=60_000) as sig:
            w.snapshot_in_background(png)
        assert sig.args == ["snapshot", str(png), ""] and png.stat().st_size > 1000
    finally:
        w.close_player()
