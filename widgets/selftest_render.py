"""The Qt half of ``vigil --self-test``: render a wall tile offscreen and check the pixels.

Called by ``main.py`` as an extra check of :func:`app.selftest.run_self_test` (``app/`` imports no Qt).
It uses the offscreen platform so it works on a server, over SSH and in CI, and proves that the Qt
libraries, the platform plugin, image formats, fonts and painting all work in this installation.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

TILE_W, TILE_H = 320, 180


def render_tile_offscreen(ctx: Any) -> str:
    """Paint the self-test's decoded frame (or a test pattern) with a name overlay into a tile widget."""
    os.environ["QT_QPA_PLATFORM"] = os.environ.get("VIGIL_SELFTEST_QPA", "offscreen")
    from PySide6.QtCore import QRect, Qt
    from PySide6.QtGui import QColor, QImage, QPainter
    from PySide6.QtWidgets import QApplication, QWidget

    frame = getattr(ctx, "values", {}).get("frame")
    if frame is None:  # the decode check failed: still prove that painting works
        frame = _pattern(TILE_W, TILE_H)
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]

    app = QApplication.instance() or QApplication(["vigil-selftest"])
    bgra = frame.shape[2] == 4  # the pipeline's display format (Format_RGB32 on little-endian)
    fmt = QImage.Format.Format_RGB32 if bgra else QImage.Format.Format_RGB888
    image = QImage(frame.data, w, h, frame.shape[2] * w, fmt).copy()

    class Tile(QWidget):
        def paintEvent(self, _event) -> None:
            p = QPainter(self)
            p.fillRect(self.rect(), QColor("#000000"))
            p.drawImage(self.rect(), image)
            band = QRect(0, self.height() - 22, self.width(), 22)
            p.fillRect(band, QColor(0, 0, 0, 160))
            p.setPen(QColor("#ffffff"))
            p.drawText(band.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter, "Self-test  LIVE")
            p.end()

    tile = Tile()
    tile.resize(w, h)
    pixmap = tile.grab()
    out = pixmap.toImage().convertToFormat(QImage.Format.Format_RGB888)
    tile.deleteLater()
    app.processEvents()
    if out.width() != w or out.height() != h:
        raise RuntimeError(f"rendered tile is {out.width()}x{out.height()}, expected {w}x{h}")
    # the picture (above the caption band) must come out as it went in
    x, y = w // 4, h // 4
    got = out.pixelColor(x, y)
    px = [int(v) for v in frame[y, x]]
    want = (px[2], px[1], px[0]) if bgra else tuple(px[:3])
    if max(abs(got.red() - want[0]), abs(got.green() - want[1]), abs(got.blue() - want[2])) > 8:
        raise RuntimeError(f"pixel ({x},{y}) is {got.name()} after painting, expected rgb{want}")
    # the caption band is darker than the picture and has white text pixels in it
    band = _to_array(out)[h - 22 :, :, :]
    if int(band.max()) < 200:
        raise RuntimeError("the caption text did not render (no bright pixels in the caption band)")
    return f"{w}x{h} tile painted on Qt {_qt_version()} ({app.platformName()})"


def _to_array(img) -> np.ndarray:
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def _pattern(w: int, h: int) -> np.ndarray:
    x = np.linspace(0, 255, w, dtype=np.uint8)
    img = np.zeros((h, w, 3), dtype=np.uint8)
    img[:, :, 0] = x
    img[:, :, 1] = x[::-1]
    img[:, :, 2] = 128
    return img


def _qt_version() -> str:
    from PySide6.QtCore import qVersion

    return qVersion()
