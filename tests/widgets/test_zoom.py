"""Digital zoom on a wall tile and on the focused camera: real MainWindow, real demo pipelines.

Wheel around the pointer, + / - / 0 keys, drag to pan, double-click to reset; a zoomed camera with a
sub-stream decodes its zoomed tile from the main stream, which closes again on reset, page change and
focus (counted through ``supervisor.pipeline(camera, MAIN)``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import pytest
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QWheelEvent
from PySide6.QtWidgets import QApplication

from app.config import CameraConfig
from app.pipeline.frames import Frame
from app.pipeline.supervisor import MAIN, TILE
from tests.widgets.conftest import demo_cam, make_config
from widgets.tile import ZOOM_COLOR, TileWidget
from widgets.zoom import STEP

WAIT = 30_000


def wheel(tile: TileWidget, pos: QPoint, notches: float) -> None:
    """A real wheel event at *pos* on *tile* (120 angle units per notch, as a mouse sends)."""
    ev = QWheelEvent(QPointF(pos), QPointF(tile.mapToGlobal(pos)), QPoint(0, 0), QPoint(0, int(120 * notches)),
                     Qt.MouseButton.NoButton, Qt.KeyboardModifier.NoModifier, Qt.ScrollPhase.NoScrollPhase,
                     False)  # fmt: skip
    QApplication.sendEvent(tile, ev)


def cams() -> list[CameraConfig]:
    return [demo_cam(f"Cam {i}", p, size="1280x720") for i, p in enumerate(["testsrc2", "smptehdbars", "life"])]


def dual() -> CameraConfig:
    return CameraConfig(name="Dual", group="Test", url="demo://m?pattern=testsrc2&size=1280x720&rate=10",
                        sub_url="demo://s?pattern=testsrc2&size=320x180&rate=10")  # fmt: skip


def test_tile_draws_only_the_zoomed_part_of_the_picture(qtbot):
    tile = TileWidget(0)
    qtbot.addWidget(tile)
    tile.resize(320, 180)
    tile.show_overlay = False
    tile.set_camera("t", "Tile", "Lab")
    img = np.zeros((180, 320, 4), np.uint8)
    img[:, :160] = (0, 0, 230, 255)  # left half red (BGRA)
    img[:, 160:] = (0, 230, 0, 255)  # right half green
    tile.set_frame(Frame(seq=1, image=img, source_width=320, source_height=180, ready_at=time.monotonic()))
    tile.zoom_by(2, QPoint(319, 90))  # 2x around the right edge
    tile.pan_by(-1000, 0)  # as far right as the picture goes: its right half fills the tile
    assert tile.zoom.factor == pytest.approx(2.0)
    x, _y, w, _h = tile.source_rect()
    assert x == pytest.approx(160) and w == pytest.approx(160)
    shot = tile.grab().toImage()
    for px in range(10, 310, 20):
        c = shot.pixelColor(px, 60)
        assert c.green() > 180 and c.red() < 40, (px, c.name())  # the red half is cut away, no bands
    yellow = [shot.pixelColor(px, 160) for px in range(200, 316)]
    assert any(c.name() == ZOOM_COLOR for c in yellow), "the ZOOM badge is drawn bottom-right"


def test_wheel_zooms_around_the_pointer_and_raises_the_demanded_size(qtbot, make_window):
    win = make_window(make_config(cams(), "2x2"))
    wall = win.wall
    tile = wall.tiles[2]
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    img_w = tile._image.width()
    size0 = win.frames.demanded_size(tile.camera_id)
    assert size0 == (tile.width(), tile.height())
    pos = QPoint(int(tile.width() * 0.3), int(tile.height() * 0.7))
    point = tile.picture_point(pos)
    wheel(tile, pos, 2)  # two notches: 2x
    assert tile.zoom.factor == pytest.approx(STEP**2)
    assert wall.selected == 2  # the zoomed tile is the one the keys act on
    assert tile.picture_point(pos) == pytest.approx(point, abs=0.005), "the point under the pointer moved"
    x, _y, w, _h = tile.source_rect()
    assert w < img_w * 0.6 and x > 0
    # the crop gets real pixels: the pipeline scales to twice the tile (the source is 1280x720)
    assert win.frames.demanded_size(tile.camera_id) == (2 * tile.width(), 2 * tile.height())
    qtbot.waitUntil(lambda: tile._image.width() > 1.5 * tile.width(), timeout=WAIT)
    wheel(tile, pos, -2)
    assert not tile.zoom.zoomed and tile.source_rect()[2] == tile._image.width()
    assert win.frames.demanded_size(tile.camera_id) == size0


def test_keys_zoom_the_selected_tile_and_the_focused_camera(qtbot, make_window):
    win = make_window(make_config(cams(), "2x2"))
    wall = win.wall
    qtbot.waitUntil(lambda: all(t.has_picture() for t in wall.tiles[:3]), timeout=WAIT)
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_Right)  # select tile 1
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    qtbot.keyClick(wall, Qt.Key.Key_Equal)  # = is + without Shift
    t1 = wall.tiles[1]
    assert t1.zoom.factor == pytest.approx(2.0) and not wall.tiles[0].zoom.zoomed
    assert wall.layout_name == "2x2"
    qtbot.keyClick(wall, Qt.Key.Key_Minus)
    assert t1.zoom.factor == pytest.approx(STEP)
    qtbot.keyClick(wall, Qt.Key.Key_0)
    assert not t1.zoom.zoomed
    # the focused camera: keys zoom it and its demanded size follows
    qtbot.keyClick(wall, Qt.Key.Key_Return)
    assert wall.focused == t1.camera_id
    ft = wall.focus_tile
    qtbot.waitUntil(ft.has_picture, timeout=WAIT)
    base = win.frames.demanded_size(wall.focused, TILE)
    assert base == (ft.width(), ft.height())
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    assert ft.zoom.factor == pytest.approx(STEP)
    grown = win.frames.demanded_size(wall.focused, TILE)
    assert grown[0] > base[0] and grown[0] <= 1280  # at most the stream's own 1280x720
    qtbot.keyClick(wall, Qt.Key.Key_0)
    assert not ft.zoom.zoomed and win.frames.demanded_size(wall.focused, TILE) == base
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    qtbot.keyClick(wall, Qt.Key.Key_Escape)  # back to the wall: the focus's zoom is gone with it
    assert not wall.focused and not ft.zoom.zoomed
    assert win.frames.demanded_size(t1.camera_id) == (t1.width(), t1.height())


def test_drag_pans_a_zoomed_tile_and_double_click_resets_it(qtbot, make_window):
    win = make_window(make_config(cams(), "2x2"))
    wall = win.wall
    tile = wall.tiles[0]
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    order = list(win.arrangement.order)
    centre = QPoint(tile.width() // 2, tile.height() // 2)
    wheel(tile, centre, 4)  # 4x around the centre
    x0, y0, w, h = tile.source_rect()
    qtbot.mousePress(tile, Qt.MouseButton.LeftButton, pos=centre)
    qtbot.mouseMove(tile, centre + QPoint(40, 20))
    qtbot.mouseMove(tile, centre + QPoint(80, 40))
    qtbot.mouseRelease(tile, Qt.MouseButton.LeftButton, pos=centre + QPoint(80, 40))
    x1, y1, w1, h1 = tile.source_rect()
    # dragged right and down by 80x40 tile pixels: the view moved left and up by that much picture
    scale = tile._image.width() / tile.width()  # picture pixels per tile pixel at 1x
    assert (w1, h1) == pytest.approx((w, h))
    assert x1 == pytest.approx(x0 - 80 * scale / 4, abs=1.0)
    assert y1 < y0
    assert win.arrangement.order == order, "a drag on a zoomed picture must not swap tiles"
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton, pos=centre)
    assert not tile.zoom.zoomed and not wall.focused, "the double-click resets the zoom, it does not focus"
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton, pos=centre)
    assert wall.focused == tile.camera_id  # the whole picture again: a double-click focuses as before


def test_zoomed_sub_stream_camera_decodes_from_its_main_stream_until_reset(qtbot, make_window):
    win = make_window(make_config([*cams()[:1], dual()], "2x2"))
    wall, sup = win.wall, win.runtime.supervisor
    tile = wall.tiles[1]
    assert tile.camera_id == "dual"
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    assert sup.pipeline("dual", MAIN) is None
    sub_w = tile._image.width()
    assert sub_w <= 2 * 320  # the sub-stream (the pipeline upscales at most 2x)
    wheel(tile, QPoint(tile.width() // 3, tile.height() // 3), 2)
    main = sup.pipeline("dual", MAIN)
    assert main is not None and wall.zoom_main_streams() == {"dual"}
    # the tile's frames come from the main stream, at the zoomed size (not the sub-stream's 320x180)
    qtbot.waitUntil(lambda: tile.source is main and tile._image.width() > sub_w, timeout=WAIT)
    assert tile._image.width() > 640
    assert win.frames.demanded_size("dual", MAIN) == (2 * tile.width(), 2 * tile.height())
    assert win.frames.demanded_size("dual", TILE) == (tile.width(), tile.height())  # kept at tile size
    qtbot.mouseDClick(tile, Qt.MouseButton.LeftButton)
    assert not tile.zoom.zoomed and not wall.focused
    assert sup.pipeline("dual", MAIN) is None and wall.zoom_main_streams() == set()
    assert win.frames.demanded_size("dual", MAIN) == (0, 0)
    qtbot.waitUntil(lambda: tile.source is sup.pipeline("dual", TILE), timeout=WAIT)


def test_a_zoomed_tile_falls_back_to_the_sub_stream_while_its_main_stream_is_down(qtbot, make_window):
    cam = dual().model_copy(update={"url": "demo://m?pattern=testsrc2&size=1280x720&rate=10&outage=3/9"})
    win = make_window(make_config([cam], "2x2"))
    wall, sup = win.wall, win.runtime.supervisor
    tile = wall.tiles[0]
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    wheel(tile, QPoint(tile.width() // 2, tile.height() // 2), 2)
    main = sup.pipeline("dual", MAIN)
    sub = sup.pipeline("dual", TILE)
    assert main is not None
    # the main stream's outage: its last picture must not stay under the sub-stream's LIVE badge
    qtbot.waitUntil(lambda: main.snapshot().is_down, timeout=WAIT)
    qtbot.waitUntil(lambda: tile.source is sub, timeout=5_000)
    assert tile.overlay().state == "LIVE" and tile.zoom.zoomed
    seq = tile.last_seq
    qtbot.waitUntil(lambda: tile.source is sub and tile.last_seq > seq, timeout=5_000)  # new sub-stream pictures
    # back: the tile returns to the main stream's pictures
    qtbot.waitUntil(lambda: tile.source is main and tile._image.width() > 640, timeout=WAIT)
    assert wall.zoom_main_streams() == {"dual"}


def test_main_streams_opened_by_a_zoom_close_on_page_change_focus_and_close(qtbot, make_window):
    cameras = [dual(), *cams(), demo_cam("Cam 9", "life")]  # five cameras: two pages of 2x2
    win = make_window(make_config(cameras, "2x2"))
    wall, sup = win.wall, win.runtime.supervisor
    tile = wall.tiles[0]
    qtbot.waitUntil(tile.has_picture, timeout=WAIT)
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_Plus)  # tile 0 is selected
    main = sup.pipeline("dual", MAIN)
    assert main is not None
    # focusing the zoomed camera hands its main connection over: no second one, no reconnect
    qtbot.keyClick(wall, Qt.Key.Key_Return)
    assert wall.focused == "dual" and sup.pipeline("dual", MAIN) is main
    assert wall.zoom_main_streams() == set()
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
    assert tile.zoom.zoomed, "the wall tile keeps its zoom across a focus"
    assert sup.pipeline("dual", MAIN) is main and wall.zoom_main_streams() == {"dual"}
    # another camera focused: the wall is hidden, its zoom's main stream closes, and reopens on return
    wall.select(1)
    qtbot.keyClick(wall, Qt.Key.Key_Return)
    assert wall.focused == wall.tiles[1].camera_id and sup.pipeline("dual", MAIN) is None
    qtbot.keyClick(wall, Qt.Key.Key_Escape)
    assert sup.pipeline("dual", MAIN) is not None
    # a page change gives the tile another camera: zoom reset, main stream closed
    qtbot.keyClick(wall, Qt.Key.Key_PageDown)
    assert wall.page == 1 and not wall.tiles[0].zoom.zoomed
    assert sup.pipeline("dual", MAIN) is None and wall.zoom_main_streams() == set()
    qtbot.keyClick(wall, Qt.Key.Key_PageUp)
    assert not wall.tiles[0].zoom.zoomed and sup.pipeline("dual", MAIN) is None
    # the view closing closes it too
    wall.select(0)
    qtbot.waitUntil(wall.tiles[0].has_picture, timeout=WAIT)
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    assert sup.pipeline("dual", MAIN) is not None
    wall.detach()
    assert sup.pipeline("dual", MAIN) is None


def test_the_tour_holds_while_a_tile_is_zoomed(qtbot, make_window):
    win = make_window(make_config([*cams(), demo_cam("Cam 8", "life"), demo_cam("Cam 9", "life")], "2x2"))
    wall = win.wall
    qtbot.waitUntil(wall.tiles[0].has_picture, timeout=WAIT)
    win.set_tour(True)
    wheel(wall.tiles[0], QPoint(20, 20), 1)
    win._last_input = 0.0  # long after the operator's last input
    assert win.tour_paused()
    win._tour_step()
    assert wall.page == 0 and wall.tiles[0].zoom.zoomed
    wall.tiles[0].reset_zoom()
    win._last_input = 0.0
    assert not win.tour_paused()
    win._tour_step()
    assert wall.page == 1


@pytest.mark.parametrize("size", [(1920, 1080), (3840, 2160)])
def test_zoomed_wall_tile_and_focused_camera_look(qtbot, make_window, tmp_path, size):
    """Screenshots (offscreen grab) of a zoomed wall tile and a zoomed focused camera; the badge is there."""
    win = make_window(make_config([dual(), *cams()], "2x2"), size=size)
    wall = win.wall
    out = Path(os.environ.get("VIGIL_ZOOM_SHOTS", tmp_path))
    out.mkdir(parents=True, exist_ok=True)
    qtbot.waitUntil(lambda: all(t.has_picture() for t in wall.tiles), timeout=WAIT)
    tile = wall.tiles[0]
    wheel(tile, QPoint(tile.width() * 2 // 3, tile.height() // 3), 3)
    qtbot.waitUntil(lambda: tile._image.width() > 640, timeout=WAIT)  # main-stream frames
    qtbot.wait(300)
    shot = win.grab()
    shot.save(str(out / f"zoom_wall_{size[0]}.png"))
    img = tile.grab().toImage()
    xs, ys = range(img.width() * 3 // 4, img.width(), 2), range(img.height() * 3 // 4, img.height(), 2)
    corner = [(x, y) for x in xs for y in ys]
    assert any(img.pixelColor(x, y).name() == ZOOM_COLOR for x, y in corner), "the ZOOM badge is drawn bottom-right"
    wall.select(1)
    wall.setFocus()
    qtbot.keyClick(wall, Qt.Key.Key_Return)
    ft = wall.focus_tile
    qtbot.waitUntil(ft.has_picture, timeout=WAIT)
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    qtbot.keyClick(wall, Qt.Key.Key_Plus)
    qtbot.waitUntil(lambda: ft._image.width() >= 1280, timeout=WAIT)
    qtbot.wait(300)
    win.grab().save(str(out / f"zoom_focus_{size[0]}.png"))
    assert ft.zoom.label() == "ZOOM 2.8\u00d7"
