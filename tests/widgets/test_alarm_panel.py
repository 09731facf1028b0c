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
    panel = AlarmPanel(engine, lambda: tiles, sound=sound, who="tester")
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
    assert texts == ["Acknowledge 1 alert(s)", "Resolve 1 alert(s)"]
    next(a for a in menu.actions() if a.text().startswith("Acknowledge")).trigger()
    assert engine.active()[0].status is AlertStatus.ACKNOWLEDGED
    empty = QMenu()
    panel.add_tile_actions(empty, "cam1")
    assert empty.actions() == []
