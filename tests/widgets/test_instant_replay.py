"""Instant replay on a tile (widgets/replay.py over app/recording/replay.py), with a real Runtime and window.

Cameras are the lab's live RTSP server (real H.264; demo:// pictures are generated, not received, and
cannot be replayed). The badge is computed from the wall time of the replayed frame the tile shows, so
"REPLAY -N s" with N >= 8 at the start of a 10 s replay is the test that the pictures are older than live.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMenu

from app.config import CameraConfig, CameraRecordingSettings, RecordingSettings
from tests.widgets.conftest import demo_cam, make_config
from widgets.tile import REPLAY_COLOR

SHOTS = Path("/tmp/shots")


def _tile(win, camera_id: str):
    return next(t for t in win.wall.tiles if t.camera_id == camera_id)


def _ago(tile) -> int:
    m = re.fullmatch("REPLAY \u2212(\\d+) s", tile.replay_text)
    assert m, tile.replay_text
    return int(m.group(1))


def _violet_pixels(tile) -> int:
    img = tile.grab().toImage()
    return sum(1 for y in range(0, img.height(), 3) for x in range(0, img.width(), 3)
               if img.pixelColor(x, y).name() == REPLAY_COLOR)  # fmt: skip


def _wait_held(qtbot, win, camera_id: str, seconds: float) -> None:
    qtbot.waitUntil(lambda: (r := win.runtime.replay.ring(camera_id)) is not None and r.held_s() >= seconds,
                    timeout=int(seconds * 1000) + 30_000)  # fmt: skip


def _select(qtbot, win, camera_id: str) -> None:
    win.wall.select(_tile(win, camera_id).index)
    win.wall.setFocus()


def test_shift_r_replays_older_pictures_of_a_live_camera_then_returns_to_live_by_itself(qtbot, make_window, rtsp_lab):
    cfg = make_config([CameraConfig(name="Dock", url=rtsp_lab.url(1)), demo_cam("Lobby", "life")], "2x2")
    win = make_window(cfg)
    _wait_held(qtbot, win, "dock", 11.0)
    tile = _tile(win, "dock")
    _select(qtbot, win, "dock")
    qtbot.keyClick(win.wall, Qt.Key.Key_R, Qt.KeyboardModifier.ShiftModifier)
    assert win.instant_replay.replaying("dock")
    qtbot.waitUntil(lambda: bool(tile.replay_text), timeout=5_000)
    assert _ago(tile) >= 8, tile.replay_text  # the pictures are 10 s old at the start of a 10 s replay
    assert isinstance(tile.source, type(win.frames.replays["dock"]))
    # the live demand stays: the pipeline goes on scaling for the tile while it replays
    assert win.frames.demanded_size("dock") == (tile.width(), tile.height())
    qtbot.waitUntil(lambda: _violet_pixels(tile) > 50, timeout=3_000)
    assert _tile(win, "lobby").replay_text == "" and _violet_pixels(_tile(win, "lobby")) == 0
    # the replay ends at the live edge by itself (10-11 s at real speed), and the tile is live again
    qtbot.waitUntil(lambda: not win.instant_replay.replaying("dock"), timeout=25_000)
    assert win.instant_replay.ended_by_itself == 1
    qtbot.waitUntil(lambda: tile.replay_text == "" and tile.source is win.frames.pipeline("dock"), timeout=2_000)
    seq = tile.last_seq
    qtbot.waitUntil(lambda: tile.last_seq > seq and tile.has_picture(), timeout=5_000)  # live pictures again
    assert tile.replay_text == ""


def test_a_recording_camera_replays_from_its_tile_menu(qtbot, make_window, rtsp_lab, tmp_path):
    cam = CameraConfig(name="Gate", url=rtsp_lab.url(2), recording=CameraRecordingSettings(mode="continuous"))
    cfg = make_config([cam], "2x2")
    cfg.recording = RecordingSettings(segment_seconds=2, reserve_mb=0)
    win = make_window(cfg, recording=True)
    qtbot.waitUntil(lambda: _tile(win, "gate").recording, timeout=30_000)
    _wait_held(qtbot, win, "gate", 11.0)
    menu = QMenu()
    assert win.instant_replay.add_menu_entries in win.wall.context_menu_hooks  # the tile's right-click menu
    win.instant_replay.add_menu_entries(menu, "gate")
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Replay last 10 s (Shift+R)", "Replay last 30 s (R)", "Replay last 60 s"], texts
    next(a for a in menu.actions() if a.text().startswith("Replay last 10 s")).trigger()
    tile = _tile(win, "gate")
    qtbot.waitUntil(lambda: bool(tile.replay_text), timeout=5_000)
    assert _ago(tile) >= 8, tile.replay_text
    assert tile.recording  # REC stays, REPLAY is added: the state badges are never replaced
    menu = QMenu()
    win.instant_replay.add_menu_entries(menu, "gate")
    assert menu.actions()[1].text() == "Back to live (Esc)"
    qtbot.waitUntil(lambda: not win.instant_replay.replaying("gate"), timeout=25_000)
    qtbot.waitUntil(lambda: tile.replay_text == "", timeout=2_000)
    assert win.instant_replay.ended_by_itself == 1


def test_esc_returns_a_replaying_tile_to_live_at_once(qtbot, make_window, rtsp_lab):
    win = make_window(make_config([CameraConfig(name="Yard", url=rtsp_lab.url(3))], "2x2"))
    _wait_held(qtbot, win, "yard", 6.0)
    tile = _tile(win, "yard")
    _select(qtbot, win, "yard")
    qtbot.keyClick(win.wall, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: bool(tile.replay_text), timeout=5_000)
    player = win.frames.replays["yard"]
    assert len(player.packets) > 0 and player.packets[0].key
    t0 = time.monotonic()
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
    assert not win.instant_replay.replaying("yard") and "yard" not in win.frames.replays
    qtbot.waitUntil(lambda: tile.replay_text == "", timeout=1_000)  # the next paint shows live
    assert time.monotonic() - t0 < 1.0
    assert player.ended.wait(2.0) and not player.running  # its thread is gone too
    assert win.instant_replay.ended_by_itself == 0


def test_a_synthetic_camera_says_why_it_cannot_be_replayed(qtbot, make_window):
    win = make_window(make_config([demo_cam("Lobby", "life")], "2x2"))
    qtbot.waitUntil(lambda: _tile(win, "lobby").has_picture(), timeout=20_000)
    why = win.instant_replay.start("lobby", 30)
    assert why == "Lobby cannot be replayed: its pictures are generated, not received, so none are kept"
    assert not win.instant_replay.replaying("lobby") and _tile(win, "lobby").replay_text == ""
    assert win.statusBar().currentMessage() == why


def test_screenshots_of_a_replaying_tile_at_1080p_and_2160p(qtbot, make_window, rtsp_lab):
    SHOTS.mkdir(parents=True, exist_ok=True)
    cams = [CameraConfig(name=f"Platform {i}", group="Station", url=rtsp_lab.url(i)) for i in (1, 2, 3, 4)]
    cfg = make_config([*cams, demo_cam("Lobby", "life"), demo_cam("Car park", "mandelbrot")], "3x3")
    win = make_window(cfg, size=(1920, 1080))
    _wait_held(qtbot, win, "platform-2", 12.0)
    tile = _tile(win, "platform-2")
    assert win.instant_replay.start("platform-2", 30) == ""
    qtbot.waitUntil(lambda: bool(tile.replay_text), timeout=5_000)
    for w, h in ((1920, 1080), (3840, 2160)):
        win.resize(w, h)
        qtbot.waitUntil(lambda w=w: tile.width() > w // 4, timeout=5_000)
        qtbot.wait(600)
        assert _violet_pixels(tile) > 100
        win.grab().save(str(SHOTS / f"instant_replay_{h}p.png"))
    assert win.instant_replay.replaying("platform-2")


def test_r_replays_the_focused_camera_and_esc_returns_to_live_before_it_leaves_the_focus(qtbot, make_window, rtsp_lab):
    win = make_window(make_config([CameraConfig(name="Quay", url=rtsp_lab.url(4))], "2x2"))
    _wait_held(qtbot, win, "quay", 6.0)
    _select(qtbot, win, "quay")
    qtbot.keyClick(win.wall, Qt.Key.Key_Return)
    assert win.wall.focused == "quay"
    ft = win.wall.focus_tile
    qtbot.keyClick(win.wall, Qt.Key.Key_R)
    qtbot.waitUntil(lambda: bool(ft.replay_text), timeout=5_000)
    assert _ago(ft) >= 4, ft.replay_text
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)  # the first Esc ends the replay, the focus stays
    assert not win.instant_replay.replaying("quay") and win.wall.focused == "quay"
    qtbot.waitUntil(lambda: ft.replay_text == "", timeout=1_000)
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)  # the next one leaves the focus view, as before
    assert win.wall.focused == ""


def _coloured_pixels(tile) -> int:
    """Saturated pixels in the lower middle of the picture (clear of the badges, the stamp and the bars)."""
    img = tile.grab().toImage()
    n = 0
    for y in range(int(img.height() * 0.62), int(img.height() * 0.85), 3):
        for x in range(img.width() // 8, img.width() * 7 // 8, 3):
            c = img.pixelColor(x, y)
            n += max(c.red(), c.green(), c.blue()) - min(c.red(), c.green(), c.blue()) > 80
    return n


def test_a_camera_that_went_down_replays_its_last_pictures_in_colour_under_its_state(
    qtbot, make_window, rtsp_server_factory
):
    srv = rtsp_server_factory()
    win = make_window(make_config([CameraConfig(name="Pier", url=srv.url(1))], "2x2"))
    _wait_held(qtbot, win, "pier", 9.0)
    tile = _tile(win, "pier")
    srv.stop()
    qtbot.waitUntil(lambda: tile.overlay().down, timeout=30_000)
    qtbot.wait(300)
    grey = _coloured_pixels(tile)  # the last live picture, greyed under the OFFLINE stamp
    assert win.instant_replay.start("pier", 10) == ""
    qtbot.waitUntil(lambda: bool(tile.replay_text), timeout=5_000)
    assert _ago(tile) >= 8 and tile.overlay().down and tile.overlay().state != "LIVE"
    qtbot.waitUntil(lambda: _coloured_pixels(tile) > max(200, 4 * grey), timeout=3_000)
    SHOTS.mkdir(parents=True, exist_ok=True)
    tile.grab().save(str(SHOTS / "instant_replay_down_tile.png"))
    qtbot.waitUntil(lambda: not win.instant_replay.replaying("pier"), timeout=25_000)
    qtbot.waitUntil(lambda: tile.replay_text == "", timeout=2_000)
    qtbot.wait(300)
    assert tile.overlay().down and _coloured_pixels(tile) <= max(50, grey * 2)  # down again: grey, no REPLAY
