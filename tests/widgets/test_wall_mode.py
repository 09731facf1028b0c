"""Wall mode (F11): only the wall, full screen; a thin strip when alarms need attention (unless the red
CRITICAL banner shows); the menus' shortcuts still work; Esc or F11 restores exactly what showed before."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel

from app.alerts import AlertEngine
from app.config import AlertSettings, CameraConfig
from tests.widgets.conftest import demo_cam, make_config
from widgets.alarm_panel import install_alarm_ui

WAIT = 30_000


def test_f11_hides_everything_but_the_wall_shows_the_strip_and_esc_restores(qtbot, make_window):
    cams = [demo_cam("Lobby"), CameraConfig(name="Gate North", url="rtsp://127.0.0.1:9/refused")]
    win = make_window(make_config(cams, "2x2"), size=(1600, 900))
    rt = win.runtime
    # offline is MAJOR here: an alarm that needs attention without the red CRITICAL banner
    rt.alerts = AlertEngine(AlertSettings(debounce_s=0, clear_s=0, sound=False,
                                          rules={"CameraOffline": {"severity": "MAJOR"}}),
                            rt.supervisor.snapshots, None, sinks=[])  # fmt: skip
    panel = install_alarm_ui(win, rt)
    notes = win.add_dock("Notes", QLabel("shift notes"), "left")
    notes.hide()  # hidden before wall mode: stays hidden after it
    alarms = win.docks["Alarms"]
    qtbot.waitUntil(alarms.isVisible, timeout=5000)  # a dock added to a shown window shows at the next event
    assert win.menuBar().isVisible() and win.statusBar().isVisible()
    qtbot.keyClick(win.wall, Qt.Key.Key_F11)
    assert win.wall_mode and win.isFullScreen() and win.fullscreen_action.isChecked()
    assert not win.menuBar().isVisible() and not win.statusBar().isVisible() and not alarms.isVisible()
    assert not win.attention_strip.isVisible()  # nothing needs attention yet
    qtbot.waitUntil(lambda: rt.supervisor.snapshots()["gate-north"].state.is_down, timeout=WAIT)
    rt.alerts.evaluate_once()
    qtbot.waitUntil(lambda: win.attention_strip.isVisible(), timeout=10_000)
    assert win.attention_strip.text() == "1 camera has an alarm that needs attention — press F11 for the alarm list"
    assert not win.wall.banner.isVisible()  # MAJOR: no red banner
    assert win.attention_strip.height() <= max(20, win.height() // 36) + 1  # thin
    assert win.attention_strip.font().pixelSize() >= 12
    # a red CRITICAL banner says it already: no strip
    win.set_alarm_attention("CRITICAL  Gate North is offline", [], {"gate-north"})
    assert not win.attention_strip.isVisible()
    panel.refresh()  # back to the panel's own view (MAJOR)
    assert win.attention_strip.isVisible()
    # a menu shortcut works with the menu bar hidden: Ctrl+Shift+A acknowledges, the strip goes
    qtbot.keyClick(win.wall, Qt.Key.Key_A, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: not win.attention_strip.isVisible(), timeout=10_000)
    # Esc on a focused camera returns to the wall, still in wall mode
    win.wall.focus_camera("lobby")
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
    assert not win.wall.focused and win.wall_mode
    qtbot.keyClick(win.wall, Qt.Key.Key_Escape)
    assert not win.wall_mode and not win.isFullScreen()
    assert win.menuBar().isVisible() and win.statusBar().isVisible() and alarms.isVisible()
    assert not notes.isVisible()  # was hidden before: stays hidden
    qtbot.keyClick(win.wall, Qt.Key.Key_F11)  # F11 both ways
    assert win.wall_mode
    qtbot.keyClick(win.wall, Qt.Key.Key_F11)
    assert not win.wall_mode and win.menuBar().isVisible()
