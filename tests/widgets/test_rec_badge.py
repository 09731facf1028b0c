"""The REC badge: a tile whose camera's recorder is writing says so, from the real recorder's status."""

from __future__ import annotations

from app.config import CameraConfig, CameraRecordingSettings, RecordingSettings
from tests.widgets.conftest import demo_cam, make_config
from widgets.tile import REC_COLOR

WAIT = 30_000


def _rec_pixels(tile) -> int:
    img = tile.grab().toImage()
    bar = max(12, img.height() // 6)
    return sum(
        1 for y in range(0, bar, 2) for x in range(0, img.width(), 2) if img.pixelColor(x, y).name() == REC_COLOR
    )


def test_recording_tile_shows_rec_and_the_other_does_not(qtbot, make_window, lab_clip):
    # an encoded source (the lab's H.264 clip): demo:// cameras are raw pictures, which are not recorded
    recorded = CameraConfig(name="Gate", url=f"file://{lab_clip}", recording=CameraRecordingSettings(mode="continuous"))
    cfg = make_config([recorded, demo_cam("Lobby", "life")], "2x2")
    cfg.recording = RecordingSettings(segment_seconds=2, reserve_mb=0)
    win = make_window(cfg, recording=True)
    tiles = {t.camera_id: t for t in win.wall.tiles if t.camera_id}
    qtbot.waitUntil(lambda: tiles["gate"].recording, timeout=WAIT)
    assert not tiles["lobby"].recording
    qtbot.waitUntil(lambda: _rec_pixels(tiles["gate"]) > 20, timeout=10_000)
    assert _rec_pixels(tiles["lobby"]) == 0
