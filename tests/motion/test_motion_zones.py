"""Motion zones editor (pytest-qt, offscreen): draw masks/zones with simulated clicks, save normalised
polygons, and the detector then ignores motion in the mask; the tile context menu hook applies them."""

from __future__ import annotations

import json
import threading

import numpy as np
import pytest
from PySide6.QtCore import QPoint, Qt
from PySide6.QtWidgets import QMenu

from app.config import AppConfig, CameraConfig, CameraRecordingSettings, MotionSettings, load_config
from app.motion.detector import MotionDetector, MotionParams
from widgets.motion_zones import MASK, ZONE, MotionZonesDialog, ZoneCanvas, frame_to_qimage

W, H = 320, 180


def cam(**motion) -> CameraConfig:
    return CameraConfig(id="gate", name="Gate", url="demo://gate?pattern=testsrc2",
                        motion=MotionSettings(enabled=True, **motion))  # fmt: skip


def px(canvas: ZoneCanvas, x: float, y: float) -> QPoint:
    return canvas.to_widget((x, y)).toPoint()


def draw(qtbot, canvas: ZoneCanvas, pts, close: str = "dclick") -> None:
    for x, y in pts[:-1]:
        qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=px(canvas, x, y))
    last = px(canvas, *pts[-1])
    qtbot.mouseClick(canvas, Qt.MouseButton.LeftButton, pos=last)
    if close == "dclick":
        qtbot.mouseDClick(canvas, Qt.MouseButton.LeftButton, pos=last)
    else:
        qtbot.keyClick(canvas, Qt.Key.Key_Return)


def moving_square(x0: float, n: int = 12) -> list[np.ndarray]:
    """Grey frames with a bright square moving down inside the column starting at x0 (normalised)."""
    frames = []
    for i in range(n):
        f = np.full((H, W), 60, np.uint8)
        x, y = int(x0 * W), 10 + (i * 9) % (H - 40)
        f[y : y + 28, x : x + 28] = 230
        frames.append(f)
    return frames


def detected(params: MotionParams, x0: float) -> bool:
    det = MotionDetector(params)
    return any(det.process(f, i * 0.25).active for i, f in enumerate(moving_square(x0)))


def close(a, b, tol=2.5 / 480) -> bool:
    return all(abs(p - q) <= tol for pa, pb in zip(a, b, strict=True) for p, q in zip(pa, pb, strict=True))


def test_draw_mask_and_zone_save_normalised_and_detector_ignores_the_mask(qtbot):
    frame = np.zeros((H, W, 4), np.uint8)  # a BGRA pipeline picture
    frame[..., 1] = 128
    frame[..., 3] = 255
    dlg = MotionZonesDialog(cam(), frame)
    qtbot.addWidget(dlg)
    dlg.show()
    c = dlg.canvas
    assert c.image is not None and c.image.width() == W and c.image.pixelColor(5, 5).green() == 128
    r = c.picture_rect()
    assert abs(r.width() / r.height() - W / H) < 0.01  # the picture keeps its aspect ratio in the widget
    mask = [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)]
    draw(qtbot, c, mask)  # mask is the default kind; double-click closes
    dlg.zone_btn.click()
    zone = [(0.25, 0.0), (1.0, 0.0), (1.0, 1.0), (0.25, 1.0)]
    draw(qtbot, c, zone, close="enter")
    # a third shape, then right-click inside it deletes it; right-click while drawing drops a corner
    draw(qtbot, c, [(0.8, 0.1), (0.95, 0.1), (0.9, 0.3)])
    assert len(c.shapes) == 3
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=px(c, 0.88, 0.15))
    assert len(c.shapes) == 2
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=px(c, 0.6, 0.6))
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=px(c, 0.7, 0.6))
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=px(c, 0.7, 0.6))
    assert c.drawing == [pytest.approx((0.6, 0.6), abs=0.01)]
    qtbot.keyClick(c, Qt.Key.Key_Escape)  # drops the unfinished shape, keeps the dialog open
    assert c.drawing == [] and dlg.isVisible()
    # two points are not a shape: refused with words
    qtbot.mouseClick(c, Qt.MouseButton.LeftButton, pos=px(c, 0.6, 0.6))
    qtbot.mouseDClick(c, Qt.MouseButton.LeftButton, pos=px(c, 0.6, 0.6))
    assert len(c.shapes) == 2 and "at least 3 points" in c.message
    qtbot.keyClick(c, Qt.Key.Key_Escape)
    assert dlg.summary.text() == "1 mask(s), 1 zone(s)"
    dlg.buttons.button(dlg.buttons.StandardButton.Save).click()
    assert dlg.result() == dlg.DialogCode.Accepted
    s = dlg.settings()
    assert len(s.masks) == 1 and len(s.zones) == 1
    assert close(s.masks[0], mask) and close(s.zones[0], zone), (s.masks, s.zones)
    assert all(0.0 <= v <= 1.0 for poly in s.masks + s.zones for p in poly for v in p)
    assert s.enabled and s.sensitivity == 0.5  # the other settings are kept
    params = MotionParams.from_settings(s)
    # left of the zone (and masked), inside the zone but masked: ignored; in the zone, unmasked: motion
    assert not detected(params, 0.1)
    assert not detected(params, 0.3)
    assert detected(params, 0.7)
    assert detected(MotionParams(), 0.3)  # the same square without the mask is seen


def test_existing_shapes_are_loaded_placeholder_when_no_picture_and_cancel_returns_nothing(qtbot):
    m = [(0.1, 0.1), (0.3, 0.1), (0.3, 0.3)]
    dlg = MotionZonesDialog(cam(masks=[m], zones=[]), None)
    qtbot.addWidget(dlg)
    dlg.show()
    c = dlg.canvas
    assert c.image is None  # grey placeholder, 16:9
    assert abs(c.picture_rect().width() / c.picture_rect().height() - 16 / 9) < 0.01
    assert c.shapes == [(MASK, m)] and dlg.summary.text() == "1 mask(s), 0 zone(s)"
    qtbot.mouseClick(c, Qt.MouseButton.RightButton, pos=px(c, 0.25, 0.15))
    assert c.shapes == []
    dlg.set_kind(ZONE)
    draw(qtbot, c, [(0.2, 0.2), (0.6, 0.2), (0.6, 0.7)], close="none")  # left open: Save keeps it
    dlg.accept()
    s = dlg.settings()
    assert s.masks == [] and len(s.zones) == 1 and len(s.zones[0]) == 3
    with pytest.raises(ValueError, match="cannot show"):
        frame_to_qimage(np.zeros((4, 4), np.float32))


def test_tile_context_menu_opens_the_editor_and_saving_applies_it(qtbot, tmp_path):
    from app.compose import add_recording
    from app.paths import Paths
    from app.runtime import Runtime
    from widgets.main_window import MainWindow
    from widgets.recordings import install_recordings_ui

    camera = cam().model_copy(update={"recording": CameraRecordingSettings(mode="motion")})
    cfg = AppConfig(cameras=[camera])
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    rt = Runtime(config=cfg, paths=paths)
    add_recording(rt)
    motion = rt.motion
    motion.register("gate", MotionParams.from_settings(camera.motion))  # what attach() does for a live pipeline
    window = MainWindow(rt)
    qtbot.addWidget(window)
    panel = None
    try:
        panel = install_recordings_ui(window, rt)
        menu = QMenu()
        for hook in window.tile_context_menu_hooks:
            hook(menu, "gate")
        act = next(a for a in menu.actions() if a.text() == "Motion zones…")
        act.trigger()
        dlg = window.findChild(MotionZonesDialog)
        assert dlg is not None and dlg.isVisible() and dlg.canvas.image is None  # pipeline not started: grey
        draw(qtbot, dlg.canvas, [(0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0)])
        dlg.buttons.button(dlg.buttons.StandardButton.Save).click()
        assert len(rt.config.camera("gate").motion.masks) == 1
        det = motion._cams["gate"].detector
        assert det.params.masks and close(det.params.masks[0], [(0, 0), (0.5, 0), (0.5, 1), (0, 1)])
        assert rt.flush_saves()
        saved = load_config(paths.config_file)
        assert saved.camera("gate").motion.masks == rt.config.camera("gate").motion.masks
        assert json.loads(paths.config_file.read_text())["schema_version"] >= 1
    finally:
        if panel is not None:
            panel.shutdown()
        window.shutdown()
        rt.stop()  # saving applied the config, which started the camera's pipeline: stop its threads
    assert not [t.name for t in threading.enumerate() if t.name.startswith("camera:gate")]
