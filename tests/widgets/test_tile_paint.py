"""What a tile paints, pixel by pixel: the picture, the letterbox bands, the overlay's parts, and figures
that refresh even when no new frame arrives (widgets/tile.py's per-frame economies must not cost truth)."""

from __future__ import annotations

import time

import numpy as np
from PySide6.QtCore import QPoint
from PySide6.QtGui import QColor, QPixmap, QRegion
from PySide6.QtWidgets import QWidget

from app.pipeline.frames import Frame
from app.pipeline.state import HealthSnapshot, StreamState
from widgets.tile import TileWidget


def live(fps: float) -> HealthSnapshot:
    return HealthSnapshot(camera_id="t", name="Tile", group="Lab", state=StreamState.LIVE, state_since=time.time(),
                          reason="receiving pictures", fps_received=fps, fps_decoded=fps, width=320, height=90,
                          codec="H.264")  # fmt: skip


def frame(w: int, h: int, bgr=(0, 200, 0)) -> Frame:
    img = np.zeros((h, w, 4), np.uint8)
    img[:, :, 0], img[:, :, 1], img[:, :, 2], img[:, :, 3] = *bgr, 255
    return Frame(seq=1, image=img, source_width=w, source_height=h, ready_at=time.monotonic())


def test_letterbox_bands_picture_and_overlay_parts(qtbot):
    tile = TileWidget(0)
    qtbot.addWidget(tile)
    tile.resize(320, 180)
    tile.set_camera("t", "Tile", "Lab")
    tile.set_snapshot(live(15.0))
    tile.set_frame(frame(320, 90))  # a wide picture: bands above and below
    img = tile.grab().toImage()
    band, picture = img.pixelColor(160, 30), img.pixelColor(160, 90)
    assert band.name() == "#07090c", "the letterbox band is the background, not stale pixels"
    assert picture.green() > 180 and picture.red() < 30, picture.name()

    def brightest(y0: int, y1: int) -> int:
        return max(img.pixelColor(x, y).lightness() for y in range(y0, y1) for x in range(0, 320, 2))

    assert brightest(0, 20) > 200, "the title text is drawn in the top bar"
    assert brightest(165, 180) > 150, "the statistics line is drawn at the bottom"
    assert tile.frames_painted >= 1
    # the overlay was blitted only where it draws: its parts cover the title bar and the statistics line
    rects = tile._layer_rects
    assert rects and all(r.height() < 180 for r in rects), "the whole tile is blitted every frame"
    assert any(r.top() == 0 and r.width() == 320 for r in rects)


def test_figures_refresh_without_a_new_frame(qtbot):
    tile = TileWidget(0)
    qtbot.addWidget(tile)
    tile.resize(320, 180)
    tile.show()
    tile.set_camera("t", "Tile", "Lab")
    tile.set_snapshot(live(15.0))
    tile.set_frame(frame(320, 180))
    qtbot.waitUntil(lambda: tile._layer_key is not None and "15 fps" in tile._layer_key[0].details, timeout=5000)
    tile.set_snapshot(live(9.0))  # only the figures change, at once after the last build: deferred...
    assert "9 fps" in tile.overlay().details
    # ...but reach the screen within about a second although no frame comes to trigger a paint
    qtbot.waitUntil(lambda: "9 fps" in tile._layer_key[0].details, timeout=3000)


def test_a_down_tile_never_shows_the_last_live_picture_at_full_strength(qtbot):
    """The stamp sits on the last picture greyed at 35 %: over the background, not over the live frame that
    is still in the window's backing store (the tile paints opaque: nothing clears it for us)."""
    tile = TileWidget(0)
    qtbot.addWidget(tile)
    tile.resize(320, 180)
    tile.set_camera("t", "Tile", "Lab")
    tile.set_snapshot(live(15.0))
    tile.set_frame(frame(320, 180, bgr=(0, 255, 0)))

    def centre():
        # the backing store still holds the last frame: paint onto a surface that holds green, the way the
        # window's backing store does, with no background clear (WA_OpaquePaintEvent)
        stale = QPixmap(320, 180)
        stale.fill(QColor(0, 255, 0))
        tile.render(stale, QPoint(), QRegion(), QWidget.RenderFlag.DrawChildren)
        return stale.toImage().pixelColor(160, 120)

    assert centre().green() > 200  # live: bright green
    tile.set_snapshot(HealthSnapshot(camera_id="t", name="Tile", group="Lab", state=StreamState.OFFLINE,
                                     state_since=time.time(), reason="connection refused"))  # fmt: skip
    tile.set_frame(frame(320, 180, bgr=(0, 0, 255)))  # its last picture: red (greyed when painted)
    c = centre()
    assert c.green() < 100 and abs(c.green() - c.red()) < 40, c.name()  # dim grey: not the stale green, not red
