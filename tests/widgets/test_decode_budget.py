"""The wall degrades before it starves: tiles past the decode budget show keyframes only, marked K."""

from __future__ import annotations

from tests.widgets.conftest import demo_cam, make_config
from widgets.degrade import over_budget


def test_over_budget_keeps_priority_tiles_at_full_rate():
    tiles = [("a", 15.0), ("b", 15.0), ("c", 0.0), ("d", 25.0), ("e", 5.0)]
    assert over_budget(tiles, 30) == {"c", "d", "e"}  # c counts as 15 until measured
    assert over_budget(tiles, 1000) == set()
    assert over_budget(tiles, 35) == {"c", "d"}  # e (5 fps) still fits after a and b


def test_wall_over_budget_tiles_decode_keyframes_only_and_say_so(make_window, qtbot):
    cams = [demo_cam(f"Cam {i}") for i in range(6)]
    win = make_window(make_config(cams, layout="3x3"))
    win.frames.budget_fps = 25  # room for two 10 fps tiles at full rate
    win.wall.select(3)
    tiles = {t.camera_id: t for t in win.wall.tiles if t.camera_id}
    selected = win.wall.tiles[3].camera_id

    def split():
        kf = {cid for cid in tiles if win.runtime.supervisor.pipeline(cid).snapshot().keyframes_only}
        return kf if len(kf) == 4 else None

    kf = qtbot.waitUntil(lambda: split() is not None, timeout=30_000) or split()
    assert selected not in kf, "the selected tile keeps full rate"
    assert "cam-0" not in kf, "then the first tile in wall order"
    qtbot.waitUntil(lambda: all(tiles[c].overlay().keyframes_only for c in kf), timeout=10_000)
    # a bigger budget gives every tile its full rate back
    win.frames.budget_fps = 1000
    qtbot.waitUntil(lambda: split() is None and not any(
        win.runtime.supervisor.pipeline(c).snapshot().keyframes_only for c in tiles), timeout=10_000)  # fmt: skip
