"""Attention on the real window: an unacknowledged CRITICAL alarm puts a banner across the top of every
wall view (tiles move below it, nothing is hidden), turns a running tour to its camera's page and holds it,
and the page indicator counts alarming cameras on other pages; acknowledging clears all of it."""

from __future__ import annotations

from app.alerts import AlertEngine
from app.config import AlertSettings, CameraConfig
from tests.widgets.conftest import demo_cam, make_config
from widgets.alarm_panel import install_alarm_ui

WAIT = 30_000


def test_critical_alarm_banner_tour_and_page_indicator(qtbot, make_window):
    cams = [demo_cam(f"Cam {i}") for i in range(4)]
    cams.append(CameraConfig(name="Gate North", url="rtsp://127.0.0.1:9/refused"))  # page 2 of a 2x2 wall
    cfg = make_config(cams, "2x2", tour_seconds=3600)
    win = make_window(cfg, size=(1600, 900))
    rt = win.runtime
    # evaluated here, by hand: no engine thread
    rt.alerts = AlertEngine(
        AlertSettings(debounce_s=0, clear_s=0, sound=False), rt.supervisor.snapshots, None, sinks=[]
    )
    panel = install_alarm_ui(win, rt)
    win.set_tour(True)
    wall = win.wall
    assert wall.page == 0 and not wall.banner.isVisible()
    qtbot.waitUntil(lambda: rt.supervisor.snapshots()["gate-north"].state.is_down, timeout=WAIT)
    qtbot.waitUntil(lambda: sum(s.is_live for s in rt.supervisor.snapshots().values()) == 4, timeout=WAIT)
    rt.alerts.evaluate_once()
    qtbot.waitUntil(lambda: wall.banner.isVisible(), timeout=10_000)
    text = wall.banner_text
    assert text.startswith("CRITICAL") and "Gate North is offline" in text and "Ctrl+Shift+A" in text
    assert wall.banner.text() == text or "…" in wall.banner.text()  # shown whole, or elided to fit
    assert wall.banner.text().endswith("Ctrl+Shift+A")  # how to acknowledge is never cut off
    assert wall.banner.font().pixelSize() >= 20  # readable across the room
    # the banner has its own strip: every tile starts below it
    assert all(t.geometry().top() >= wall.banner.geometry().bottom() for t in wall.tiles)
    assert wall.page == 1 and win.tour_paused()  # the tour turned to the camera's page and holds there
    wall.set_page(0)
    win._update_status()
    assert "1 alarming on other pages" in win.page_label.text()
    other = win.open_page_window(1)
    qtbot.waitUntil(lambda: other.view.banner.isVisible(), timeout=10_000)
    assert other.view.banner_text == text
    assert panel.acknowledge_selected([a.id for a in panel.unacknowledged()], "on it") == 1
    qtbot.waitUntil(lambda: not wall.banner.isVisible() and not other.view.banner.isVisible(), timeout=10_000)
    assert all(t.geometry().top() == 0 for t in wall.tiles if t.index < 2)  # the strip is given back
    win._last_input = 0.0
    assert not win.tour_paused()  # acknowledged: the tour runs on
    assert "alarming" not in win.page_label.text()  # acknowledged: nothing left to point at
