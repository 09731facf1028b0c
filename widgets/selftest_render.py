"""The Qt half of ``vigil --self-test``: render a real wall tile offscreen and check its pixels.

Called by ``main.py`` as an extra check of :func:`app.selftest.run_self_test` (``app/`` imports no Qt).
It uses the offscreen platform so it works on a server, over SSH and in CI, and proves that the Qt
libraries, the platform plugin, fonts and the wall's own :class:`widgets.tile.TileWidget` painting
(picture + health overlay) work in this installation.
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np

TILE_W, TILE_H = 320, 180


def render_tile_offscreen(ctx: Any) -> str:
    """Paint the self-test's decoded frame (or a test pattern) in a LIVE wall tile and check the pixels."""
    os.environ["QT_QPA_PLATFORM"] = os.environ.get("VIGIL_SELFTEST_QPA", "offscreen")
    from PySide6.QtGui import QImage
    from PySide6.QtWidgets import QApplication

    from app.pipeline.frames import Frame
    from app.pipeline.state import HealthSnapshot, StreamState
    from widgets.tile import TileWidget

    frame = getattr(ctx, "values", {}).get("frame")
    if frame is None:  # the decode check failed: still prove that painting works
        frame = _pattern(TILE_W, TILE_H)
    frame = np.ascontiguousarray(frame)
    h, w = frame.shape[:2]

    app = QApplication.instance() or QApplication(["vigil-selftest"])
    tile = TileWidget(0)
    try:
        tile.resize(w, h)
        tile.set_camera("selftest", "Self-test", "Vigil")
        tile.set_snapshot(HealthSnapshot(camera_id="selftest", name="Self-test", group="Vigil",
                                         state=StreamState.LIVE, state_since=time.time(), reason="self-test",
                                         width=w, height=h))  # fmt: skip
        tile.set_frame(Frame(seq=1, image=frame, source_width=w, source_height=h, ready_at=time.monotonic()))
        out = tile.grab().toImage().convertToFormat(QImage.Format.Format_RGB888)
        painted = tile.frames_painted
    finally:
        tile.deleteLater()
        app.processEvents()
    if out.width() != w or out.height() != h:
        raise RuntimeError(f"rendered tile is {out.width()}x{out.height()}, expected {w}x{h}")
    if painted < 1:
        raise RuntimeError("the tile painted no picture")
    # the middle of the picture (clear of the title and statistics bands) must come out as it went in
    got = _to_array(out)
    y0, y1, x0, x1 = h * 3 // 8, h * 5 // 8, w // 4, w * 3 // 4
    want = frame[y0:y1, x0:x1, 2::-1] if frame.shape[2] == 4 else frame[y0:y1, x0:x1, :3]  # BGRA -> RGB
    diff = np.abs(got[y0:y1, x0:x1].astype(np.int16) - want.astype(np.int16))
    if float((diff > 24).mean()) > 0.05:
        raise RuntimeError(f"the painted picture differs from the decoded frame ({(diff > 24).mean():.0%} of pixels)")
    # the overlay (title, LIVE badge) drew bright text pixels into the top band
    if int(got[: max(12, h // 8)].max()) < 200:
        raise RuntimeError("the tile overlay did not render (no bright text pixels in the title band)")
    import pyqtgraph  # the history charts: a bundle that lost it opens the wall but not the history view

    return (f"{w}x{h} wall tile painted with overlay on Qt {_qt_version()} ({app.platformName()}); "
            f"pyqtgraph {pyqtgraph.__version__}")  # fmt: skip


def _to_array(img) -> np.ndarray:
    ptr = img.constBits()
    arr = np.frombuffer(ptr, dtype=np.uint8, count=img.sizeInBytes()).reshape(img.height(), img.bytesPerLine())
    return arr[:, : img.width() * 3].reshape(img.height(), img.width(), 3).copy()


def _pattern(w: int, h: int) -> np.ndarray:
    """BGRA colour ramps, like a display frame from the pipeline."""
    x = np.linspace(0, 255, w, dtype=np.uint8)
    img = np.full((h, w, 4), 255, dtype=np.uint8)
    img[:, :, 0] = x
    img[:, :, 1] = x[::-1]
    img[:, :, 2] = 128
    return img


def _qt_version() -> str:
    from PySide6.QtCore import qVersion

    return qVersion()


def check_libvlc(ctx: Any) -> str:
    """libvlc for recording playback is optional (PyAV is the fallback), but half-installed is a fault.

    Fails only when libvlc *and* its plugin folder are there yet no instance starts: the bundle bug the
    runtime hook ``packaging/rthook_vlc.py`` exists for. Missing libvlc is reported, not failed.
    """
    try:
        import vlc
    except (ImportError, OSError) as e:
        return f"not available ({type(e).__name__}): recordings play through PyAV"
    plugins = os.environ.get("VLC_PLUGIN_PATH", "")
    from widgets.player import vlc_instance

    inst = vlc_instance()
    if inst is None:
        if plugins and os.path.isdir(plugins):
            raise RuntimeError(f"libvlc is installed and VLC_PLUGIN_PATH={plugins} exists, but no instance starts")
        return "libvlc found but no plugins (apt: vlc-plugin-base): recordings play through PyAV"
    try:
        version = vlc.libvlc_get_version().decode(errors="replace")
    finally:
        inst.release()
    return f"libvlc {version}" + (f", plugins from {plugins}" if plugins else "")
