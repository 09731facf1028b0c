"""The alarm panel with pytest-qt: a real AlertEngine (fake snapshots), real tiles of the wall's type."""

from __future__ import annotations

import pytest

from app.alerts import AlertEngine, AlertStatus
from app.config import AlertSettings
from app.pipeline.state import HealthSnapshot, StreamState
from widgets.alarm_panel import SEVERITY_COLORS, AlarmPanel, AlarmSound
from widgets.tile import TileWidget


class Clock:
    t = 1_700_000_000.0

    def __call__(self):
        return self.t


@pytest.fixture
def setup(qtbot):
    snaps = {
        "cam1": HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.LIVE),
        "cam2": HealthSnapshot(camera_id="cam2", name="Gate", state=StreamState.LIVE),
    }
    clock = Clock()
    engine = AlertEngine(AlertSettings(debounce_s=0, clear_s=0, sound=True), lambda: dict(snaps), None, sinks=[],
                         clock=clock)  # fmt: skip
    tiles = []
    for i, cid in enumerate(("cam1", "cam2")):
        t = TileWidget(i)
        t.set_camera(cid, cid)
        qtbot.addWidget(t)
        tiles.append(t)
    sound = AlarmSound(enabled=True)
    sound.player = None  # offscreen CI: count plays, beep instead of spawning a player
    shown: list[str] = []
    panel = AlarmPanel(engine, lambda: tiles, sound=sound, who="tester", show_camera=shown.append, clock=clock)
    panel.shown_cameras = shown
    qtbot.addWidget(panel)
    yield engine, panel, tiles, snaps, clock
    panel.shutdown()


def test_alert_shows_blinks_and_acknowledges(qtbot, setup):
    engine, panel, tiles, snaps, _clock = setup
    snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")
    snaps["cam2"] = HealthSnapshot(camera_id="cam2", name="Gate", conditions=("SILENT",), state=StreamState.LIVE)
    engine.evaluate_once()  # on this thread; the bridge signal still goes through Qt
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 2, timeout=10_000)
    first = panel.tree.topLevelItem(0)
    assert first.text(0) == "CRITICAL" and first.text(1) == "Lobby" and "offline" in first.text(2)
    assert panel.tree.topLevelItem(1).text(0) == "WARNING"
    assert "2 unacknowledged" in panel.summary.text()
    # the border blinks in the severity colour: on and off between timer ticks
    seen = set()
    qtbot.waitUntil(lambda: seen.add(getattr(tiles[0], "alarm_color", None)) or len(seen) == 2, timeout=10_000)
    assert seen == {SEVERITY_COLORS["CRITICAL"], None}
    assert panel.sound.played >= 1  # the alarm sounded
    # acknowledge the critical one with a note: border stops, who/note recorded
    crit = engine.active()[0]
    panel.select_alert(crit.id)
    panel.note.setText("technician sent")
    assert panel.acknowledge_selected() == 1
    a = engine.active()[0]
    assert (a.status, a.acknowledged_by, a.ack_note) == (AlertStatus.ACKNOWLEDGED, "tester", "technician sent")
    qtbot.wait(BLINK_WAIT)
    assert getattr(tiles[0], "alarm_color", None) is None
    assert "acknowledged by tester" in panel.tree.topLevelItem(0).text(4)
    # resolve the warning by hand: it leaves the panel
    warn = next(x for x in engine.active() if x.camera_id == "cam2")
    assert panel.resolve_selected([warn.id], "known") == 1
    assert [x.camera_id for x in engine.active()] == ["cam1"]
    assert panel.tree.topLevelItemCount() == 1


BLINK_WAIT = 1200


def test_mute_stops_repeats_and_tile_menu(qtbot, setup):
    from PySide6.QtWidgets import QMenu

    engine, panel, _tiles, snaps, _clock = setup
    snaps["cam2"] = HealthSnapshot(camera_id="cam2", name="Gate", state=StreamState.STALLED)
    engine.evaluate_once()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10_000)
    panel.mute_button.setChecked(True)
    assert panel.sound.muted and panel.mute_button.text() == "Unmute"
    before = panel.sound.played
    assert panel.sound.tick(True, now=1e12) is False and panel.sound.played == before
    menu = QMenu()
    panel.add_tile_actions(menu, "cam2")
    texts = [a.text() for a in menu.actions() if a.text()]
    assert texts == ["Acknowledge 1 alert(s)", "Close 1 alarm(s) by hand"]
    next(a for a in menu.actions() if a.text().startswith("Acknowledge")).trigger()
    assert engine.active()[0].status is AlertStatus.ACKNOWLEDGED
    empty = QMenu()
    panel.add_tile_actions(empty, "cam1")
    assert empty.actions() == []


def test_a_never_acknowledged_alarm_stays_after_the_camera_recovers_until_acknowledged(qtbot, setup):
    engine, panel, tiles, snaps, clock = setup
    snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")
    engine.evaluate_once()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=10_000)
    snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.LIVE)
    clock.t += 5
    engine.evaluate_once()  # the condition is gone ...
    clock.t += 5
    engine.evaluate_once()  # ... and stays gone (clear_s = 0)
    qtbot.waitUntil(lambda: "cleared, unacknowledged" in panel.tree.topLevelItem(0).text(4), timeout=10_000)
    assert panel.tree.topLevelItemCount() == 1 and "1 unacknowledged" in panel.summary.text()
    seen = set()  # still blinking on the camera: nobody has seen it
    qtbot.waitUntil(lambda: seen.add(getattr(tiles[0], "alarm_color", None)) or len(seen) == 2, timeout=10_000)
    panel.tree.itemDoubleClicked.emit(panel.tree.topLevelItem(0), 0)
    assert panel.shown_cameras == ["cam1"]  # double-click shows the camera on the wall
    assert panel.acknowledge_selected([engine.active()[0].id], "") == 1
    assert engine.active() == () and panel.tree.topLevelItemCount() == 0
    assert panel.summary.text() == "No open alarms"


def test_shelving_silences_one_alarm_and_the_views_filter_the_list(qtbot, setup):
    engine, panel, _tiles, snaps, clock = setup
    snaps["cam1"] = HealthSnapshot(camera_id="cam1", name="Lobby", state=StreamState.OFFLINE, reason="refused")
    snaps["cam2"] = HealthSnapshot(camera_id="cam2", name="Gate", state=StreamState.STALLED)
    engine.evaluate_once()
    qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 2, timeout=10_000)
    lobby = next(a for a in engine.active() if a.camera_id == "cam1")
    panel.note.setText("road works at the gate")
    assert panel.shelve_selected(60, [lobby.id]) == 1
    a = next(a for a in engine.active() if a.id == lobby.id)
    assert a.shelved and (a.shelved_by, a.shelve_note) == ("tester", "road works at the gate")
    assert "shelved until" in panel.tree.topLevelItem(0).text(4) and "1 shelved" in panel.summary.text()
    assert "cam1" not in panel.border_colors()  # a shelved alarm does not blink
    panel.view.setCurrentIndex(1)  # needing attention
    assert [panel.tree.topLevelItem(i).text(1) for i in range(panel.tree.topLevelItemCount())] == ["Gate"]
    panel.view.setCurrentIndex(2)  # shelved
    assert [panel.tree.topLevelItem(i).text(1) for i in range(panel.tree.topLevelItemCount())] == ["Lobby"]
    panel.view.setCurrentIndex(3)  # stale: none is a day old yet
    assert panel.tree.topLevelItemCount() == 0
    clock.t += 25 * 3600
    panel.refresh()
    assert panel.tree.topLevelItemCount() == 2 and "stale (1 d 1 h)" in panel.tree.topLevelItem(0).text(4)
