"""The tile shows motion from the real motion service on a moving demo source, and none on a still one."""

from __future__ import annotations

from app.config import CameraConfig, MotionSettings
from tests.widgets.conftest import demo_cam, make_config


def test_tile_marks_motion_only_where_there_is_motion(qtbot, make_window):
    moving = demo_cam("Moving", "testsrc2", motion=MotionSettings(enabled=True, show_boxes=True))
    still = CameraConfig(name="Still", group="Test", url="lavfi://smptebars=size=320x180:rate=10",
                         motion=MotionSettings(enabled=True))  # a picture that never changes  # fmt: skip
    win = make_window(make_config([moving, still], layout="2x2"), size=(1000, 600), recording=True)
    tiles = {t.camera_id: t for t in win.wall.tiles if t.camera_id}
    qtbot.waitUntil(lambda: tiles["moving"].motion_active, timeout=30_000)
    assert tiles["moving"]._motion[1], "show_boxes is on: the moving regions are drawn"
    assert not tiles["still"].motion_active
    # the marker is painted into the tile (teal badge pixels present)
    img = tiles["moving"].grab().toImage()
    teal = sum(
        1
        for y in range(img.height() - 60, img.height(), 3)
        for x in range(0, min(200, img.width()), 3)
        if img.pixelColor(x, y).name() == "#35d0c0"
    )
    assert teal > 10
