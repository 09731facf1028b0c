"""The Recordings dock with pytest-qt on a real runtime (recorder and retention installed, real folders)."""

from __future__ import annotations

from app.compose import add_recording
from app.config import AppConfig, CameraConfig
from app.paths import Paths
from app.runtime import Runtime
from widgets.recordings import RecordingsPanel


def test_recordings_panel_lists_names_follows_the_config_and_opens_a_player(qtbot, tmp_path):
    cams = [CameraConfig(id="gate", name="Gate North", url="demo://g?pattern=testsrc2&size=320x180&rate=10")]
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    rt = Runtime(config=AppConfig(cameras=cams), paths=paths)
    add_recording(rt)
    panel = RecordingsPanel(rt)
    qtbot.addWidget(panel)
    try:
        assert [panel.cameras.item(i).text() for i in range(panel.cameras.count())] == ["Gate North"]
        assert panel.selected_camera() == "gate"
        rt.config.cameras.append(CameraConfig(id="dock", name="Dock", url="demo://d?pattern=life&rate=10"))
        panel.refresh()  # the 2 s timer does this: a camera added in the camera dialog appears
        assert [panel.cameras.item(i).text() for i in range(panel.cameras.count())] == ["Gate North", "Dock"]
        panel.cameras.setCurrentRow(1)
        panel.open_selected()  # the folder scan runs on the panel's worker, the player opens on the GUI thread
        qtbot.waitUntil(lambda: len(panel.players) == 1, timeout=10_000)
        player = panel.players[0]
        assert player.windowTitle() == "Recordings — Dock" and player.timeline.camera_id == "dock"
        assert player.picture.text() == "no recording"  # nothing recorded yet: said in words
    finally:
        panel.shutdown()
        rt.stop()
