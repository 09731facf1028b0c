"""The wall with pytest-qt against real pipelines (demo sources and the lab's RTSP server)."""

from __future__ import annotations

import os
import re

import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLabel, QMenu

from app.config import CameraConfig, load_config
from app.pipeline.state import StreamState
from app.store import Store
from app.store.db import sqlite_url
from tests.widgets.conftest import demo_cam, make_config
from widgets.main_window import screen_choices, store_health_sentence

WAIT = 30_000


def nine():
    pats = ["testsrc2", "life", "zoneplate", "smptehdbars", "cellauto", "gradients", "sierpinski", "colorspectrum",
            "mandelbrot"]  # fmt: skip
    return [demo_cam(f"Cam {i}", p) for i, p in enumerate(pats)]


def test_tiles_show_pictures_and_status_counts_live(qtbot, make_window):
    win = make_window(make_config(nine()[:4], "2x2"))
    wall = win.wall
    qtbot.waitUntil(lambda: all(t.has_picture() for t in wall.tiles), timeout=WAIT)
    qtbot.waitUntil(lambda: win.live_label.text() == "All 4 cameras live", timeout=WAIT)
    assert all(t.overlay().state == "LIVE" for t in wall.tiles)
    # frames arrive already scaled to the tile: the pipeline was told the tile's size
    t0 = wall.tiles[0]
    assert win.frames.demanded_size(t0.camera_id) == (t0.width(), t0.height())
    assert t0._array.shape[1] <= t0.width() and t0._array.shape[0] <= t0.height()


def test_layouts_and_pages(qtbot, make_window):
    win = make_window(make_config(nine(), "3x3"))
    wall = win.wall
    assert len(wall.tiles) == 9 and win.arrangement.page_count == 1
    qtbot.keyClick(wall, Qt.Key.Key_2)  # 2x2
    assert wall.layout_name == "2x2" and len(wall.tiles) == 4
    assert win.arrangement.page_count == 3
    qtbot.keyClick(wall, Qt.Key.Key_PageDown)
    assert wall.page == 1
    assert [t.camera_id for t in wall.tiles] == ["cam-4", "cam-5", "cam-6", "cam-7"]
    # cameras on hidden pages stop converting frames
    assert win.frames.demanded_size("cam-0") == (0, 0)
    assert win.frames.demanded_size("cam-4") != (0, 0)
    for key, name, n in [(Qt.Key.Key_1, "1", 1), (Qt.Key.Key_4, "4x4", 16), (Qt.Key.Key_7, "8x4", 32),
                         (Qt.Key.Key_8, "8x8", 64), (Qt.Key.Key_6, "6x6", 36), (Qt.Key.Key_5, "5x5", 25)]:  # fmt: skip
        qtbot.keyClick(wall, key)
        assert wall.layout_name == name and len(wall.tiles) == n
    assert "Page 1/1 · 5x5" in win.page_label.text()
    assert win.layout_actions["5x5"].isChecked()


def test_keyboard_selection_focus_and_escape(qtbot, make_window):
    win = make_window(make_config(nine(), "3x3"))
    wall = win.wall
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_Right)
    qtbot.keyClick(wall, Qt.Key.Key_Down)
    assert wall.selected == 4 and wall.tiles[4].selected and not wall.tiles[0].selected
    qtbot.keyClick(wall, Qt.Key.Key_Left)
    qtbot.keyClick(wall, Qt.Key.Key_Left)  # wraps around to the right column
    assert wall.selected == 5
    qtbot.keyClick(wall, Qt.Key.Key_Return)
    assert wall.focused == "cam-5"
    assert wall.focus_tile.isVisible() and not wall.tiles[0].isVisible()
    assert wall.focus_tile.geometry() == wall.rect()
    qtbot.waitUntil(lambda: wall.focus_tile.has_picture(), timeout=WAIT)
    # the other cameras stop converting while one is focused
    assert win.frames.demanded_size("cam-0") == (0, 0)
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
    assert wall.focused == "" and wall.tiles[0].isVisible() and not wall.focus_tile.isVisible()
    assert win.frames.demanded_size("cam-0") != (0, 0)


def test_double_click_focuses_and_switches_to_main_stream(qtbot, make_window):
    cams = nine()[:3]
    cams[1] = CameraConfig(name="Dual", url="demo://m?pattern=testsrc2&size=1280x720&rate=10",
                           sub_url="demo://s?pattern=testsrc2&size=320x180&rate=10")  # fmt: skip
    win = make_window(make_config(cams, "2x2"))
    wall, sup = win.wall, win.runtime.supervisor
    tile = wall.tiles[1]
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton)
    assert wall.focused == "dual"
    assert wall.focus_tile.has_picture()  # the current picture at once, before the main stream's first frame
    assert sup.pipeline("dual", "main") is not None
    qtbot.waitUntil(lambda: wall.main_stream_live, timeout=WAIT)
    qtbot.waitUntil(lambda: "1280x720" in wall.focus_tile.overlay().details, timeout=WAIT)
    assert win.frames.demanded_size("dual", "tile") == (0, 0)  # sub-stream no longer scaled to the big view
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
    assert wall.focused == "" and sup.pipeline("dual", "main") is None


def test_swap_and_arrangement_persisted_then_restored(qtbot, make_window, tmp_path):
    win = make_window(make_config(nine(), "3x3"))
    wall = win.wall
    wall.swap_tiles(0, 8)
    assert wall.tiles[0].camera_id == "cam-8" and wall.tiles[8].camera_id == "cam-0"
    qtbot.keyClick(wall, Qt.Key.Key_2)
    assert win.runtime.flush_saves()
    saved = load_config(tmp_path / "vigil.json")
    assert saved.wall.layout == "2x2"
    flat = [c for p in saved.wall.pages for c in p.camera_ids]
    assert flat[0] == "cam-8" and flat[8] == "cam-0"
    win.shutdown()
    win.runtime.stop()
    again = make_window(saved)
    assert again.wall.layout_name == "2x2"
    assert again.wall.tiles[0].camera_id == "cam-8"
    assert again.arrangement.order == win.arrangement.order


def test_demo_wall_never_writes_the_users_config(qtbot, make_window, tmp_path):
    win = make_window(make_config(nine(), "3x3"), demo=True)
    win.wall.swap_tiles(0, 1)
    qtbot.keyClick(win.wall, Qt.Key.Key_4)
    assert win.runtime.flush_saves()
    assert not (tmp_path / "vigil.json").exists()
    assert win.runtime.config.wall.layout == "4x4"  # kept in memory for this session


def test_overlay_toggle_and_keyframes_marker(qtbot, make_window):
    win = make_window(make_config(nine()[:4], "2x2"))
    wall = win.wall
    qtbot.keyClick(wall, Qt.Key.Key_O)
    assert not wall.show_overlay and not wall.tiles[0].show_overlay
    qtbot.keyClick(wall, Qt.Key.Key_O)
    assert wall.tiles[0].show_overlay
    win.frames.set_forced_keyframes("cam-0", True)
    win.frames.health_tick()
    assert wall.tiles[0].overlay().keyframes_only
    assert win.runtime.supervisor.pipeline("cam-0").snapshot().keyframes_only


def test_integration_api_docks_menus_and_tile_menu_hooks(qtbot, make_window):
    win = make_window(make_config(nine()[:2], "2x2"))
    calls = []
    dock = win.add_dock("Alarms", QLabel("alarm list"), area="right")
    qtbot.waitUntil(dock.isVisible, timeout=WAIT)
    assert win.docks["Alarms"] is dock and dock.toggleViewAction() in win.menu("&Window").actions()
    act = win.add_menu_action("Tools", "History…", lambda: calls.append("history"), shortcut="Ctrl+H")
    act.trigger()
    assert calls == ["history"]
    win.tile_context_menu_hooks.append(lambda menu, cid: calls.append(("menu", cid, menu.actions()[0].text())))
    win.wall._context_menu("cam-1", QPoint(10, 10))
    assert calls[-1] == ("menu", "cam-1", "Focus (Enter)")
    win.wall._last_menu.close()
    with pytest.raises(ValueError, match="dock area must be one of"):
        win.add_dock("x", QLabel(), area="middle")


def test_page_window_shows_a_page_and_shares_frames(qtbot, make_window):
    win = make_window(make_config(nine(), "2x2"))
    pw = win.open_page_window(1)
    qtbot.addWidget(pw)
    assert [t.camera_id for t in pw.view.tiles] == ["cam-4", "cam-5", "cam-6", "cam-7"]
    qtbot.waitUntil(lambda: all(t.has_picture() for t in pw.view.tiles), timeout=WAIT)
    pw.close()
    assert pw not in win.page_windows
    assert win.frames.demanded_size("cam-4") == (0, 0)


def test_tour_waits_for_the_operator(qtbot, make_window):
    win = make_window(make_config(nine(), "2x2"))
    win.set_tour(True)
    win._last_input = 0.0
    win._tour_step()
    assert win.wall.page == 1
    qtbot.keyClick(win.wall, Qt.Key.Key_Right)  # operator input pauses the tour
    win._tour_step()
    assert win.wall.page == 1 and win.tour_paused()


@pytest.mark.lab
def test_overlay_follows_a_real_camera_dropping_and_coming_back(qtbot, make_window, rtsp_server_factory):
    srv = rtsp_server_factory(mounts=1, size="320x180", fps=10, overlay=False, secure_mounts=0)
    cam = CameraConfig(name="Lab cam", group="Lab", url=f"rtsp://127.0.0.1:{srv.port}/cam1")
    win = make_window(make_config([cam, demo_cam("Other")], "2x2"))
    tile = win.wall.tiles[0]
    qtbot.waitUntil(lambda: tile.overlay().state == "LIVE" and tile.has_picture(), timeout=WAIT)
    assert "320x180" in tile.overlay().details and "H.264" in tile.overlay().details
    srv.stop()
    qtbot.waitUntil(lambda: tile.overlay().state == "OFFLINE", timeout=WAIT)
    t = tile.overlay()
    assert t.down and t.stamp.startswith("OFFLINE since ") and t.reason
    # the status bar follows at the next health tick (<= 0.5 s); the demo camera stays live meanwhile
    qtbot.waitUntil(lambda: win.live_label.text() == "1 of 2 cameras live", timeout=WAIT)
    assert win.frames.snapshots["lab-cam"].state is StreamState.OFFLINE
    assert win.frames.snapshots["other"].state is StreamState.LIVE
    srv.start()
    qtbot.waitUntil(lambda: tile.overlay().state == "LIVE", timeout=WAIT)
    assert not tile.overlay().down and tile.overlay().reason.startswith("recovered at ")


def test_status_bar_cpu_memory_and_painted_fps_are_plausible(qtbot, make_window):
    win = make_window(make_config(nine()[:2], "2x2", diagnostics=True))  # operators see neither by default
    assert win.cpu_label.isVisible() and win.fps_label.isVisible()
    pat = re.compile(r"CPU (\d+)% · RAM (\d+) MB")
    qtbot.waitUntil(lambda: pat.fullmatch(win.cpu_label.text()) is not None, timeout=WAIT)  # 2 s sampler
    cpu, ram = map(int, pat.fullmatch(win.cpu_label.text()).groups())
    assert 0 <= cpu <= 100 * (os.cpu_count() or 1)
    assert 30 <= ram <= 64_000  # a Python + Qt + FFmpeg process, in MB
    assert abs(ram - win.rss_mb) < 1
    fps = re.compile(r"Pictures drawn: (\d+) a second")
    assert fps.fullmatch(win.fps_label.text())
    # two live 10 fps demo cameras: the paint timer paints their frames
    qtbot.waitUntil(lambda: int(fps.fullmatch(win.fps_label.text()).group(1)) > 0, timeout=WAIT)
    assert int(fps.fullmatch(win.fps_label.text()).group(1)) <= 2 * 10 * 3  # 2 tiles x 10 fps, ample margin


def test_f11_toggles_full_screen(qtbot, make_window):
    win = make_window(make_config(nine()[:1], "2x2"))
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=WAIT)
    assert not win.isFullScreen()
    qtbot.keyClick(win.wall, Qt.Key.Key_F11)
    qtbot.waitUntil(win.isFullScreen, timeout=WAIT)
    qtbot.keyClick(win.wall, Qt.Key.Key_F11)
    qtbot.waitUntil(lambda: not win.isFullScreen(), timeout=WAIT)
    assert win.menuBar().isVisible()


def test_tour_advances_by_its_timer(qtbot, make_window):
    win = make_window(make_config(nine(), "2x2", tour_seconds=0.3))
    assert win.tour_timer.isActive() and win.tour_action.isChecked()
    win._last_input = 0.0  # no operator input yet
    assert win.wall.page == 0
    with qtbot.waitSignal(win.wall.page_changed, timeout=WAIT) as sig:
        pass
    assert sig.args == [1, 3] and win.wall.page == 1
    qtbot.waitUntil(lambda: win.wall.page == 2, timeout=WAIT)
    qtbot.waitUntil(lambda: win.wall.page == 0, timeout=WAIT)  # wraps around
    assert "· tour" in win.page_label.text()


def test_status_bar_says_when_history_is_not_written(qtbot, make_window, tmp_path):
    (tmp_path / "not-a-db").mkdir()  # a directory where the SQLite file should be: the store cannot open it
    broken = Store(sqlite_url(tmp_path / "not-a-db"))
    win = make_window(make_config(nine()[:1], "2x2"), store=broken)
    qtbot.waitUntil(win.store_label.isVisible, timeout=WAIT)
    text = win.store_label.text()  # the store's own sentence when it offers one (WriterStatus.message)
    assert "not written" in text.lower() or "history is off" in text.lower(), text
    assert "database" in text and "unable to open" in text, text
    broken.stop(drain_timeout_s=0.5)  # nothing can be written: do not wait the default 15 s at teardown


def test_status_bar_is_quiet_when_history_is_written(qtbot, make_window, tmp_path):
    good = Store(sqlite_url(tmp_path / "h.sqlite3"))
    win = make_window(make_config(nine()[:1], "2x2"), store=good)
    win._sample_process()
    assert not win.store_label.isVisible() and win.store_label.text() == "", (win.store_label.text(), good.status())
    assert store_health_sentence(good) == ""


def test_store_health_sentence_survives_a_failing_store():
    class Failing:
        def status(self):
            raise RuntimeError("boom")

    assert store_health_sentence(None) == ""
    assert store_health_sentence(Failing()) == "History: status unavailable (RuntimeError)"


def test_open_page_on_a_chosen_monitor(qtbot, make_window):
    win = make_window(make_config(nine(), "2x2"))
    screens = QGuiApplication.screens()
    choices = screen_choices(screens, win.screen())
    assert [s for _, s in choices] == screens and len(choices) >= 1
    for i, (label, s) in enumerate(choices):
        g = s.geometry()
        assert label.startswith(f"{i + 1}: {s.name() or f'Screen {i + 1}'}")
        assert f"{g.width()}x{g.height()}" in label
    assert sum(1 for label, _ in choices if label.endswith("· this window")) == 1
    menu = QMenu(win)
    acts = win.build_screen_menu(menu, page=1)
    assert [a.text() for a in acts] == [label for label, _ in choices]
    acts[0].trigger()  # the only screen under offscreen is this window's: a normal window on it
    [pw] = win.page_windows
    qtbot.addWidget(pw)
    assert pw.screen() is screens[0] and not pw.isFullScreen()
    assert [t.camera_id for t in pw.view.tiles] == ["cam-4", "cam-5", "cam-6", "cam-7"]
    # Ctrl+N with at most one other screen opens at once (no menu)
    opened = win.open_page_window_chosen()
    qtbot.addWidget(opened)
    assert opened in win.page_windows and len(win.page_windows) == 2
    for w in list(win.page_windows):
        w.close()
