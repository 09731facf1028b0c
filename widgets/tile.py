"""One wall tile: the newest picture of a camera (already scaled off the GUI thread) and its health overlay.

The tile never touches a pipeline: the wall's frame service hands it ``Frame``s on its paint timer and
``HealthSnapshot``s on its health timer. The picture is a QImage wrapping the frame's numpy buffer
(BGRA = QImage RGB32; RGB888 also accepted). The tile keeps a reference to the array, so the buffer
outlives the QImage. It is drawn straight onto the raster backing store, no QPixmap upload per frame
(see docs/wall.md for the measurement).
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QFontMetrics, QImage, QPainter, QPen, QRegion
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

from app.pipeline.frames import Frame
from app.pipeline.state import HealthSnapshot
from widgets.overlay_text import CONDITION_COLOR, RECOVERED_COLOR, OverlayText, overlay_text, tooltip_lines
from widgets.text_sizes import FLOOR_PX, TextSizes, tile_text_sizes
from widgets.zoom import NO_ZOOM, STEP, WHEEL_NOTCH, Zoom, pan, picture_point, rel_aspect, source_rect, zoom_at

TILE_MIME = "application/x-vigil-tile"
# cameras dragged from the camera tree: a JSON list of camera ids (one = place/swap, several = fill the page)
CAMERAS_MIME = "application/x-vigil-cameras"
_BG = QColor("#07090c")
_SELECT = QColor("#4fb3ff")
FIGURES_REFRESH_S = 1.0  # fps/bitrate/latency figures on a tile refresh at most this often
REC_COLOR = "#b71c1c"  # the REC badge: a dark red, apart from the OFFLINE badge's brighter one
MOTION_COLOR = "#35d0c0"  # teal: distinct from the state colours (green/blue/amber/red/magenta)
ZOOM_COLOR = "#ffd166"  # the ZOOM badge: warm yellow, apart from the state, REC and MOTION badges
REPLAY_COLOR = "#7c4dff"  # instant replay: violet badge and frame, a colour no state, REC or MOTION uses


class TileWidget(QWidget):
    activated = Signal(int)  # double-click
    clicked = Signal(int)
    swap_requested = Signal(int, int)  # (dragged tile index, dropped-on tile index)
    cameras_dropped = Signal(int, list)  # (dropped-on tile index, camera ids from the camera tree)
    context_requested = Signal(int, QPoint)  # global position
    zoom_changed = Signal(int)  # the operator zoomed, panned or reset (tile index; -1 = the focus tile)

    def __init__(self, index: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.index = index
        self.camera_id = ""
        self.name = ""
        self.group = ""
        self.selected = False
        self.show_overlay = True
        self.drop_target = False
        # frame hand-over state (owned by the frame service, stored here for locality)
        self.source: object | None = None
        self.last_seq = 0
        self._array = None  # keeps the QImage's buffer alive
        self._buffer = None
        self._layer: QImage | None = None  # cached overlay (text, badges, border)
        self._layer_key: tuple | None = None
        self._layer_region = QRegion()  # where the layer has anything drawn (collected while drawing it)
        self._layer_rects: list[QRect] = []  # that region as non-overlapping rects, blitted per frame
        self._word_rects: list[QRect] = []  # where the layer puts words and badges (the rest shows the picture)
        self._layer_built_at = 0.0
        self._figures_due_pending = False
        self._bands_key: tuple | None = None
        self._bands: list[QRect] = []  # letterbox bands around the picture
        self._image: QImage | None = None
        self._grey: QImage | None = None
        self._text: OverlayText = overlay_text(None)
        self._press: QPoint | None = None
        self.frames_painted = 0
        # motion marker: (active, regions as (x, y, w, h) normalised to the picture, labels)
        self._motion: tuple[bool, tuple, tuple] = (False, (), ())
        self._recording = False  # the camera's recorder is writing: a REC badge beside the state
        self.title_font: QFont | None = None  # set when the title is painted
        self.replay_text = ""  # "REPLAY -27 s" while it shows an instant replay (set by the frame service)
        self.zoom: Zoom = NO_ZOOM  # digital zoom (widgets/zoom.py), normalised: it survives a sub -> main switch
        self._pan_from: QPoint | None = None  # a left-drag on a zoomed picture pans it (no tile swap)
        self.setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent)
        self.setAttribute(Qt.WidgetAttribute.WA_NoSystemBackground)
        self.setAcceptDrops(True)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Ignored)
        self.setMinimumSize(16, 9)

    # ------------------------------------------------------------------ data in
    def set_camera(self, camera_id: str, name: str = "", group: str = "") -> None:
        if camera_id == self.camera_id and name == self.name and group == self.group:
            return
        changed = camera_id != self.camera_id
        self.camera_id, self.name, self.group = camera_id, name, group
        if changed:
            self.source, self.last_seq = None, 0
            self._array = self._buffer = self._image = self._grey = None
            self._text = overlay_text(None, name, group)
            self._set_zoom(NO_ZOOM, emit=False)  # another camera: the whole picture (the view reconciles streams)
        self._set_tooltip(None)
        self.update()

    def set_frame(self, frame: Frame) -> None:
        arr = frame.image
        self._array, buf = arr, _image_buffer(arr)
        # BGRA (alpha 255) is QImage's native RGB32 on little-endian machines: drawn without conversion
        fmt = QImage.Format.Format_RGB32 if arr.shape[2] == 4 else QImage.Format.Format_RGB888
        self._buffer = buf
        self._image = QImage(buf, arr.shape[1], arr.shape[0], arr.strides[0], fmt)
        self._grey = None
        self.last_seq = frame.seq
        self.update()

    def has_picture(self) -> bool:
        return self._image is not None

    def copy_picture_from(self, other: TileWidget) -> None:
        """Show *other*'s current picture at once (focus hand-over); it is scaled when painted."""
        self._array, self._buffer, self._image, self._grey = other._array, other._buffer, other._image, None
        self.update()

    def _set_tooltip(self, snap: HealthSnapshot | None) -> None:
        """Each figure in words ("15 frames per second received", "Bitrate 806 kbit/s", …) and the reason; not
        the name, which the tile already shows. Escaped, one paragraph: a device's words are never HTML."""
        lines = tooltip_lines(snap) if self.camera_id else []
        tip = f"<p>{'<br>'.join(html.escape(x) for x in lines)}</p>" if lines else ""
        if tip != self.toolTip():
            self.setToolTip(tip)

    def set_snapshot(self, snap: HealthSnapshot | None) -> None:
        self._set_tooltip(snap)
        text = overlay_text(snap, self.name, self.group)
        if text != self._text:
            self._text = text
            self.update()

    def set_motion(self, active: bool, regions: tuple = (), labels: tuple = ()) -> None:
        """Motion marker (and optional boxes, normalised 0..1 to the picture) from the motion service."""
        motion = (bool(active), tuple(regions) if active else (), tuple(labels) if active else ())
        if motion != self._motion:
            self._motion = motion
            self.update()

    @property
    def motion_active(self) -> bool:
        return self._motion[0]

    def set_recording(self, on: bool) -> None:
        """The REC badge: the camera's recorder is writing a segment now (from the recorder's status)."""
        if bool(on) != self._recording:
            self._recording = bool(on)
            self.update()

    @property
    def recording(self) -> bool:
        return self._recording

    def set_replay(self, text: str) -> None:
        """The REPLAY badge and violet frame ('' = live): set with each replayed frame, so a tile that shows a
        replayed picture always says so (widgets/frame_service.py ``pull``)."""
        if text != self.replay_text:
            self.replay_text = text
            self.update()

    def clear_picture(self) -> None:
        """Show no picture (a replay ended and live has none yet: its last replayed picture must not stay)."""
        self._array = self._buffer = self._image = self._grey = None
        self.update()

    def overlay(self) -> OverlayText:
        return self._text

    # ------------------------------------------------------------------ painting
    def _font(self, px: float, bold: bool = False) -> QFont:
        f = QFont(self.font())
        f.setPixelSize(max(8, int(px)))
        f.setBold(bold)
        return f

    def paintEvent(self, event) -> None:
        # Per frame and tile at 32 tiles x 15 fps: fill only the letterbox bands (the picture covers the
        # rest) and blit only the overlay's drawn parts; both halved the GUI thread's paint time.
        p = QPainter(self)
        r = self.rect()
        img = self._image if self.camera_id else None
        # a down camera's last picture is greyed; a replayed one (what it showed before) is not: REPLAY says it
        dim = self._text.down and not self.replay_text
        if img is None or dim:
            p.fillRect(r, _BG)  # a down tile's picture is drawn translucent: over the background, not the old frame
        if img is not None:
            # zoomed: a sub-rectangle of the picture fills the tile (bands only on an axis still shown whole)
            target, src = self._picture_geometry(r, img)
            if not dim:
                for band in self._letterbox(r, target):
                    p.fillRect(band, _BG)
            if dim:
                # a down camera must never look live: desaturated and dimmed under the stamp
                if self._grey is None:
                    self._grey = img.convertToFormat(QImage.Format.Format_Grayscale8)
                p.setOpacity(0.35)
                p.drawImage(target, self._grey, src)
                p.setOpacity(1.0)
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() != src.width())
                p.drawImage(target, img, src)
                self.frames_painted += 1
        layer = self._overlay_layer(r, img is not None)
        for rr in self._layer_rects:
            p.drawImage(rr, layer, rr)

    def _picture_geometry(self, r: QRect, img: QImage) -> tuple[QRectF, QRectF]:
        """(where the picture is drawn on the tile, which part of the picture in its pixels).

        Unzoomed: the whole picture fitted (letterboxed). Zoomed: ``zoom.source_rect`` for the tile's
        aspect, drawn at the fit scale times the factor, centred: it fills the tile once the crop is
        smaller than the picture on both axes, so there are no bands to fill then.
        """
        iw, ih = img.width(), img.height()
        if not self.zoom.zoomed or iw <= 0 or ih <= 0:
            return _fit(iw, ih, r), QRectF(0, 0, iw, ih)
        sx, sy, sw, sh = source_rect(self.zoom, iw, ih, r.width(), r.height())
        s = min(r.width() / iw, r.height() / ih) * self.zoom.factor
        tw, th = min(r.width(), sw * s), min(r.height(), sh * s)
        target = QRectF(r.left() + (r.width() - tw) / 2, r.top() + (r.height() - th) / 2, tw, th)
        return target, QRectF(sx, sy, sw, sh)

    def source_rect(self) -> tuple[float, float, float, float]:
        """The part of the current picture the tile shows, in that picture's pixels ``(x, y, w, h)``."""
        img = self._image
        if img is None:
            return (0.0, 0.0, 0.0, 0.0)
        _t, src = self._picture_geometry(self.rect(), img)
        return (src.x(), src.y(), src.width(), src.height())

    def picture_point(self, pos: QPoint) -> tuple[float, float]:
        """The picture point (normalised 0..1) drawn at *pos* on the tile; the centre when there is no picture."""
        img = self._image
        if img is None:
            return (0.5, 0.5)
        t, src = self._picture_geometry(self.rect(), img)
        return picture_point((src.x(), src.y(), src.width(), src.height()), (t.x(), t.y(), t.width(), t.height()),
                             pos.x(), pos.y(), img.width(), img.height())  # fmt: skip

    def _rel_aspect(self) -> float:
        img = self._image
        if img is None:
            return 1.0
        return rel_aspect(self.width(), self.height(), img.width(), img.height())

    # ------------------------------------------------------------------ zoom
    def _set_zoom(self, zoom: Zoom, emit: bool = True) -> None:
        if zoom == self.zoom:
            return
        self.zoom = zoom
        self.setCursor(Qt.CursorShape.OpenHandCursor if zoom.zoomed else Qt.CursorShape.ArrowCursor)
        self.update()
        if emit:
            self.zoom_changed.emit(self.index)

    def zoom_by(self, steps: float, pos: QPoint | None = None) -> bool:
        """Zoom *steps* notches (negative = out) around the picture point at *pos* (default: the view's
        centre, so the keys zoom straight in). False when there is no picture to zoom."""
        if self._image is None or not self.camera_id or steps == 0:
            return False
        point = self.picture_point(pos) if pos is not None else (self.zoom.cx, self.zoom.cy)
        self._set_zoom(zoom_at(self.zoom, STEP**steps, point, self._rel_aspect()))
        return True

    def reset_zoom(self) -> None:
        self._pan_from = None
        self._set_zoom(NO_ZOOM)

    def pan_by(self, dx_px: float, dy_px: float) -> None:
        """Move a zoomed picture by (*dx_px*, *dy_px*) tile pixels (a drag)."""
        img = self._image
        if img is None or not self.zoom.zoomed:
            return
        t, src = self._picture_geometry(self.rect(), img)
        if t.width() <= 0 or t.height() <= 0:
            return
        dx = dx_px / t.width() * src.width() / img.width()
        dy = dy_px / t.height() * src.height() / img.height()
        self._set_zoom(pan(self.zoom, dx, dy, self._rel_aspect()))

    def wheelEvent(self, event) -> None:
        steps = event.angleDelta().y() / WHEEL_NOTCH
        if not self.zoom_by(steps, event.position().toPoint()):
            event.ignore()
            return
        event.accept()

    def _letterbox(self, r: QRect, target: QRectF) -> list[QRect]:
        """The parts of *r* not fully covered by the picture at *target* (cached per geometry)."""
        key = (r.width(), r.height(), target.left(), target.top(), target.width(), target.height())
        if key != self._bands_key:
            left, top = int(np.ceil(target.left())), int(np.ceil(target.top()))
            covered = QRect(left, top, int(target.right()) - left, int(target.bottom()) - top)
            self._bands = list(QRegion(r).subtracted(QRegion(covered)))
            self._bands_key = key
        return self._bands

    def _mark(self, rect: QRect) -> None:
        """Record that the overlay layer being built draws inside *rect* (only those parts are blitted)."""
        self._layer_region = self._layer_region.united(QRegion(rect))

    def _words(self, rect: QRect) -> QRect:
        """Record that *rect* holds words or a badge (in colour); everything else on the tile is picture."""
        self._word_rects.append(QRect(rect))
        return rect

    def _overlay_layer(self, r: QRect, has_image: bool) -> QImage:
        """Text, badges and border rendered once per change into a transparent layer, then blitted per frame.

        Text layout is the expensive part of a tile's paint; at 32 tiles x 15 fps, redrawing it for
        every frame cost more than the pictures themselves.
        """
        key = (self._text, r.width(), r.height(), has_image, self.camera_id, self.show_overlay, self.selected,
               self.drop_target, self._motion, getattr(self, "alarm_color", None), self._recording,
               self.zoom if has_image else None, self.replay_text)  # fmt: skip
        if self._layer is not None and key == self._layer_key:
            return self._layer
        if self._layer is not None and self._only_figures_changed(key):
            if not self._figures_due_pending:  # a tile with no new frame must still get its figures
                self._figures_due_pending = True
                wait = FIGURES_REFRESH_S - (time.monotonic() - self._layer_built_at)
                QTimer.singleShot(max(1, int(wait * 1000) + 1), self._figures_due)
            return self._layer
        layer = QImage(max(1, r.width()), max(1, r.height()), QImage.Format.Format_ARGB32_Premultiplied)
        layer.fill(Qt.GlobalColor.transparent)
        self._layer_region = QRegion()
        self._word_rects = []
        p = QPainter(layer)
        t = self._text
        if not self.camera_id:
            self._mark(r)
            p.setPen(QColor("#3a414b"))
            p.setFont(self._font(self._sizes(r).empty))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "empty")
        else:
            if (t.down and not self.replay_text) or not has_image:  # replaying: the state badge says it
                self._draw_stamp(p, r, t)
            if self.show_overlay:
                self._draw_overlay(p, r, t, has_image)
            elif t.down or t.state != "LIVE":
                self._draw_badge_only(p, r, t)
        if self.camera_id and self._motion[0] and not t.down:
            self._draw_motion(p, r)
        if self.camera_id and has_image and self.zoom.zoomed:
            self._draw_zoom_badge(p, r)
        if self.camera_id and self.replay_text:
            self._draw_replay(p, r)
        self._draw_frame_border(p, r)
        p.end()
        self._layer, self._layer_key = layer, key
        self._layer_rects = list(self._layer_region)
        self._layer_built_at = time.monotonic()
        return layer

    def _figures_due(self) -> None:
        self._figures_due_pending = False
        self.update()

    def _only_figures_changed(self, key: tuple) -> bool:
        """The health tick updates fps/bitrate/latency twice a second on every tile; re-laying out the
        text for that is the bulk of a tile's overlay cost. Figures-only changes wait up to 1 s (the next
        frame after that picks them up); a state, reason, condition or size change redraws at once."""
        old = self._layer_key
        if old is None or key[1:] != old[1:] or time.monotonic() - self._layer_built_at >= FIGURES_REFRESH_S:
            return False
        return replace(old[0], details=key[0].details) == key[0]

    def _draw_motion(self, p: QPainter, r: QRect) -> None:
        """A MOTION badge bottom-left (with labels, e.g. "MOTION · person") and the moving boxes, if any."""
        _active, regions, labels = self._motion
        pic = None
        if regions and self._image is not None:
            img = self._image
            pic, src = self._picture_geometry(r, img)  # zoomed: the boxes follow the crop, cut at its edges
            kx, ky = pic.width() / src.width(), pic.height() / src.height()
            p.setPen(QPen(QColor(MOTION_COLOR), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.setClipRect(pic)
            for x, y, w, h in regions:
                p.drawRect(QRectF(pic.left() + (x * img.width() - src.left()) * kx,
                                  pic.top() + (y * img.height() - src.top()) * ky,
                                  w * img.width() * kx, h * img.height() * ky))  # fmt: skip
            p.setClipping(False)
        s = self._sizes(r)
        text = "MOTION" + (" · " + ", ".join(labels) if labels else "")
        f = self._font(s.motion, bold=True)
        fm = QFontMetrics(f)
        h = s.motion_h
        w = min(fm.horizontalAdvance(text) + 12, r.width() - 8)
        bottom_bar = s.figures_h if self.show_overlay and s.show_figures else 0
        box = QRect(r.left() + 4, r.bottom() - bottom_bar - h - 3, w, h)
        if pic is not None:
            self._mark(pic.toAlignedRect())
        self._mark(self._words(box))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(MOTION_COLOR))
        p.drawRoundedRect(box, 3, 3)
        p.setFont(f)
        p.setPen(QColor("#101317"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, fm.elidedText(text, Qt.TextElideMode.ElideRight, w - 6))

    def _draw_zoom_badge(self, p: QPainter, r: QRect) -> None:
        """``ZOOM 2.8x`` bottom-right, above the figures bar (the MOTION badge takes bottom-left): the
        operator must never mistake a crop for the whole scene."""
        s = self._sizes(r)  # as the MOTION badge
        text = self.zoom.label()
        f = self._font(s.motion, bold=True)
        fm = QFontMetrics(f)
        h = s.motion_h
        w = min(fm.horizontalAdvance(text) + 12, r.width() - 8)
        bottom_bar = s.figures_h if self.show_overlay and s.show_figures else 0
        box = QRect(r.right() - 4 - w, r.bottom() - bottom_bar - h - 3, w, h)
        self._mark(self._words(box))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(ZOOM_COLOR))
        p.drawRoundedRect(box, 3, 3)
        p.setFont(f)
        p.setPen(QColor("#101317"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter, fm.elidedText(text, Qt.TextElideMode.ElideRight, w - 6))

    def _draw_replay(self, p: QPainter, r: QRect) -> None:
        """``REPLAY -27 s`` (a minus sign): a large violet badge centred under the title bar (below the
        condition chips), and a violet frame down the tile's sides (not over the words), so a replayed picture
        is never taken for live from across the room. The selection frame is drawn over it (it shows which tile
        the keys act on)."""
        fs = self._metrics(r)
        edge = max(6, int(fs * 0.35))  # 6 px on a small tile, 9 on a large one
        ring = QRegion(r).subtracted(QRegion(r.adjusted(edge, edge, -edge, -edge)))
        for words in self._word_rects:  # the title and figures bars stay readable: the frame goes round them
            ring = ring.subtracted(QRegion(words))
        for band in ring:
            p.fillRect(band, QColor(REPLAY_COLOR))
        self._layer_region = self._layer_region.united(ring)
        f = self._font(fs * 1.25, bold=True)
        fm = QFontMetrics(f)
        h = int(fs * 1.9)
        w = min(fm.horizontalAdvance(self.replay_text) + int(fs * 1.4), r.width() - 16)
        top = r.top() + (int(fs * 1.7) + 4 if self.show_overlay else 6)
        if self.show_overlay and self._text.conditions:
            top += int(fs * 1.25) + 4
        box = QRect(r.left() + (r.width() - w) // 2, top, w, h)
        self._mark(self._words(box))
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(REPLAY_COLOR))
        p.drawRoundedRect(box, 4, 4)
        p.setFont(f)
        p.setPen(QColor("#ffffff"))
        p.drawText(box, Qt.AlignmentFlag.AlignCenter,
                   fm.elidedText(self.replay_text, Qt.TextElideMode.ElideRight, w - 8))  # fmt: skip

    def set_alarm_border(self, color: str | None) -> None:
        """Alarm hook (widgets/alarm_panel.py): a thick border in *color* (the alarm blinks by toggling it)."""
        if getattr(self, "alarm_color", None) != color:
            self.alarm_color = color
            self.update()

    def _draw_frame_border(self, p: QPainter, r: QRect) -> None:
        alarm = getattr(self, "alarm_color", None)
        edge = 7 if alarm else 4  # the widest line below reaches this far in from the tile's edge
        inner = r.adjusted(edge, edge, -edge, -edge)
        self._layer_region = self._layer_region.united(QRegion(r).subtracted(QRegion(inner)))
        if alarm:
            p.setPen(QPen(QColor(alarm), 6))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(3, 3, -3, -3))
        if self.selected or self.drop_target:
            p.setPen(QPen(_SELECT if self.selected else QColor("#ffd166"), 3))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(1, 1, -2, -2))
        else:
            p.setPen(QPen(QColor("#1b2027"), 1))
            p.setBrush(Qt.BrushStyle.NoBrush)
            p.drawRect(r.adjusted(0, 0, -1, -1))

    def _sizes(self, r: QRect) -> TextSizes:
        """Every text size of this tile (``widgets/text_sizes.py``): from the tile's size and the height of
        the wall it is on (its parent view; a tile on its own is its own wall). Cached per geometry."""
        parent = self.parentWidget()
        key = (r.width(), r.height(), parent.height() if parent is not None else 0)
        if key != getattr(self, "_sizes_key", None):
            self._sizes_key, self._sizes_value = key, tile_text_sizes(*key)
        return self._sizes_value

    def _fitting_font(self, px: int, text: str, width: int, bold: bool = True) -> QFont:
        """A *px* font for one line of *text*, made smaller (not below ``FLOOR_PX``) until the line fits in
        *width*: on a narrow tile a whole "OFFLINE since 21:53:13" at a smaller size reads better than
        "OFFLINE sin…" at the full size. Still elided when even the floor does not fit."""
        f = self._font(px, bold=bold)
        adv = QFontMetrics(f).horizontalAdvance(text) if text else 0
        if adv > width > 0 and px > FLOOR_PX:
            f = self._font(max(FLOOR_PX, int(px * width / adv)), bold=bold)
        return f

    def _metrics(self, r: QRect) -> float:
        """The title's pixel size, for a text sized as a multiple of it (``_sizes`` has every text's size)."""
        return float(self._sizes(r).title)

    def _badge(self, p: QPainter, right: int, top: int, h: int, t: OverlayText) -> int:
        """Draw the state badge ending at *right*; returns its left x. No state word (a DISABLED camera, whose
        stamp already says so): no badge, one word per state."""
        f = self._font(h * 0.62, bold=True)
        fm = QFontMetrics(f)
        w = fm.horizontalAdvance(t.state) + int(h * 0.7) if t.state else 0
        rect = QRect(right - w, top, w, h)
        if t.state:
            self._mark(self._words(rect.adjusted(-h - 4, 0, 0, 0) if t.keyframes_only else rect))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(t.color))
            p.drawRoundedRect(rect, 3, 3)
            p.setPen(QColor("#ffffff"))
            p.setFont(f)
            p.drawText(rect, Qt.AlignmentFlag.AlignCenter, t.state)
        x = rect.left()
        if t.keyframes_only:
            kr = QRect(x - h - 4, top, h, h)
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor("#f0a020"))
            p.drawRoundedRect(kr, 3, 3)
            p.setPen(QColor("#101317"))
            p.drawText(kr, Qt.AlignmentFlag.AlignCenter, "K")
            x = kr.left()
        if self._recording:
            rec = "● REC"
            rw = fm.horizontalAdvance(rec) + int(h * 0.6)
            rr = QRect(x - rw - 4, top, rw, h)
            self._mark(self._words(rr))
            p.setPen(Qt.PenStyle.NoPen)
            p.setBrush(QColor(REC_COLOR))
            p.drawRoundedRect(rr, 3, 3)
            p.setPen(QColor("#ffffff"))
            p.setFont(f)
            p.drawText(rr, Qt.AlignmentFlag.AlignCenter, rec)
            x = rr.left()
        return x

    def _draw_badge_only(self, p: QPainter, r: QRect, t: OverlayText) -> None:
        h = self._sizes(r).badge_h
        self._badge(p, r.right() - 4, r.top() + 4, h, t)

    def _draw_overlay(self, p: QPainter, r: QRect, t: OverlayText, has_image: bool) -> None:
        s = self._sizes(r)
        fs, bar_h = s.title, s.bar_h
        self._mark(self._words(QRect(r.left(), r.top(), r.width(), bar_h)))
        p.fillRect(QRect(r.left(), r.top(), r.width(), bar_h), QColor(0, 0, 0, 165))
        left = self._badge(p, r.right() - 3, r.top() + (bar_h - s.badge_h) // 2, s.badge_h, t)
        p.setPen(QColor("#ffffff"))
        p.setFont(self._font(fs, bold=True))
        self.title_font = QFont(p.font())  # the font the title was last painted with (tests measure it)
        title_rect = QRect(r.left() + 6, r.top(), max(0, left - r.left() - 10), bar_h)
        title = QFontMetrics(p.font()).elidedText(t.title, Qt.TextElideMode.ElideRight, title_rect.width())
        p.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        y = r.top() + bar_h + 3
        if t.conditions:
            f = self._font(s.condition, bold=True)
            fm = QFontMetrics(f)
            p.setFont(f)
            x = r.left() + 4
            ch = s.condition_h
            self._mark(self._words(QRect(r.left(), y, r.width(), ch)))
            for c in t.conditions:
                w = fm.horizontalAdvance(c) + 10
                if x + w > r.right():
                    break
                p.setPen(Qt.PenStyle.NoPen)
                p.setBrush(QColor(CONDITION_COLOR))
                p.drawRoundedRect(QRect(x, y, w, ch), 3, 3)
                p.setPen(QColor("#101317"))
                p.drawText(QRect(x, y, w, ch), Qt.AlignmentFlag.AlignCenter, c)
                x += w + 4
        bottom = t.details if not t.down else ""
        notice = t.reason if t.state == "LIVE" and has_image else ""  # "recovered at … (down …)"
        if not bottom and t.reason and not t.down and has_image and not notice:
            bottom = t.reason
        bar_top = r.bottom() + 1
        if bottom and s.show_figures:
            bar_top = r.bottom() - s.figures_h + 1
        if notice and r.height() >= 60:
            self._draw_notice(p, r, notice, bar_top)
        if bottom and s.show_figures:
            f = self._font(s.figures)
            fm = QFontMetrics(f)
            bh = s.figures_h
            self._mark(self._words(QRect(r.left(), r.bottom() - bh + 1, r.width(), bh)))
            p.fillRect(QRect(r.left(), r.bottom() - bh + 1, r.width(), bh), QColor(0, 0, 0, 150))
            p.setFont(f)
            p.setPen(QColor("#d8dde5"))
            text = fm.elidedText(bottom, Qt.TextElideMode.ElideRight, r.width() - 12)
            p.drawText(QRect(r.left() + 6, r.bottom() - bh + 1, r.width() - 12, bh),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)  # fmt: skip

    def _draw_stamp(self, p: QPainter, r: QRect, t: OverlayText) -> None:
        """A down (or pictureless) tile's words, centred on a dark band over the greyed picture:

        the stamp (``OFFLINE since 21:53:13``, 1.3x the title, bold, in the state's colour), what Vigil is
        doing (``reconnecting: attempt 4 in 8 s``, 1x, bold, white) and why (the reason, 0.85x, wrapped),
        each also bounded by the room under the title bar (``widgets/text_sizes.py``): the stamp of a 4x4
        tile on a 1080p wall is ~42 px high, readable from across a control room.
        """
        self._mark(r)  # a down or pictureless tile repaints rarely: the whole layer
        s = self._sizes(r)
        stamp = t.stamp or ("CONNECTING…" if t.state == "CONNECTING" else "NO PICTURE")
        # a down tile's stamp, and a status tile's own state word ("API: RUNNING"), in the state's colour
        color = QColor(t.stamp_color or t.color) if t.down or t.stamp else QColor("#8a93a0")
        box = r.adjusted(8, s.bar_h + 4, -8, -8)
        f = self._fitting_font(s.stamp, stamp, box.width())
        fm = QFontMetrics(f)
        lh = fm.height()
        act_f = self._fitting_font(s.activity, t.activity, box.width())
        afm = QFontMetrics(act_f)
        ah = afm.height() + 2 if t.activity else 0
        reason_f = self._font(s.reason)
        rfm = QFontMetrics(reason_f)
        reason_rect = rfm.boundingRect(QRect(0, 0, box.width(), 1000), Qt.TextFlag.TextWordWrap, t.reason)
        total = lh + ah + (reason_rect.height() + 4 if t.reason else 0)
        top = box.top() + max(0, (box.height() - total) // 2)
        band = self._words(QRect(r.left(), top - 4, r.width(), min(total + 8, r.bottom() - top + 4)))
        if t.down:
            p.fillRect(band, QColor(0, 0, 0, 170))
        p.setFont(f)
        p.setPen(color)
        p.drawText(QRect(box.left(), top, box.width(), lh), Qt.AlignmentFlag.AlignCenter,
                   fm.elidedText(stamp, Qt.TextElideMode.ElideRight, box.width()))  # fmt: skip
        y = top + lh
        if t.activity:
            p.setFont(act_f)
            p.setPen(QColor("#ffffff"))
            p.drawText(QRect(box.left(), y + 2, box.width(), afm.height()), Qt.AlignmentFlag.AlignCenter,
                       afm.elidedText(t.activity, Qt.TextElideMode.ElideRight, box.width()))  # fmt: skip
            y += ah
        if t.reason:
            p.setFont(reason_f)
            p.setPen(QColor("#e6e9ee"))
            p.drawText(QRect(box.left(), y + 4, box.width(), max(0, min(reason_rect.height(), box.bottom() - y - 4))),
                       Qt.AlignmentFlag.AlignHCenter | Qt.TextFlag.TextWordWrap, t.reason)  # fmt: skip

    def _draw_notice(self, p: QPainter, r: QRect, text: str, bottom: int) -> None:
        """The "recovered at 14:05:10 (down 3 min 12 s)" line of a LIVE tile, on a band just above *bottom*."""
        s = self._sizes(r)
        f = self._font(s.notice, bold=True)
        fm = QFontMetrics(f)
        h = s.notice_h
        band = QRect(r.left(), bottom - h, r.width(), h)
        self._mark(self._words(band))
        p.fillRect(band, QColor(0, 0, 0, 170))
        p.setFont(f)
        p.setPen(QColor(RECOVERED_COLOR))
        p.drawText(band.adjusted(6, 0, -6, 0), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
                   fm.elidedText(text, Qt.TextElideMode.ElideRight, band.width() - 12))  # fmt: skip

    # ------------------------------------------------------------------ interaction
    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self._press = event.position().toPoint()
            if self.zoom.zoomed:  # a drag on a zoomed picture pans it instead of swapping tiles
                self._pan_from = self._press
                self.setCursor(Qt.CursorShape.ClosedHandCursor)
            self.clicked.emit(self.index)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
        if self._pan_from is not None:
            pos = event.position().toPoint()
            d = pos - self._pan_from
            self._pan_from = pos
            self.pan_by(d.x(), d.y())
            return
        if self._press is None or self.index < 0 or not self.camera_id:
            return
        if (event.position().toPoint() - self._press).manhattanLength() < QApplication.startDragDistance():
            return
        self._press = None
        mime = QMimeData()
        mime.setData(TILE_MIME, str(self.index).encode())
        drag = QDrag(self)
        drag.setMimeData(mime)
        if self._image is not None:
            from PySide6.QtGui import QPixmap  # drag preview: GUI thread, once per drag

            drag.setPixmap(QPixmap.fromImage(self._image).scaledToWidth(160))
        drag.exec(Qt.DropAction.MoveAction)

    def mouseReleaseEvent(self, event) -> None:
        self._press = None
        if self._pan_from is not None:
            self._pan_from = None
            self.setCursor(Qt.CursorShape.OpenHandCursor if self.zoom.zoomed else Qt.CursorShape.ArrowCursor)
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            if self.zoom.zoomed:  # a zoomed picture: back to the whole picture (a second one focuses)
                self.reset_zoom()
                return
            self.activated.emit(self.index)

    def contextMenuEvent(self, event) -> None:
        self.context_requested.emit(self.index, event.globalPos())

    def dragEnterEvent(self, event) -> None:
        mime = event.mimeData()
        if (mime.hasFormat(TILE_MIME) or mime.hasFormat(CAMERAS_MIME)) and self.index >= 0:
            self.drop_target = True
            self.update()
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self.drop_target = False
        self.update()

    def dropEvent(self, event) -> None:
        self.drop_target = False
        self.update()
        if event.mimeData().hasFormat(CAMERAS_MIME):
            ids = camera_ids_from_mime(bytes(event.mimeData().data(CAMERAS_MIME)))
            if ids and self.index >= 0:
                # a copy, never a move: a MoveAction would let the tree's view remove the dragged rows
                event.setDropAction(Qt.DropAction.CopyAction)
                event.accept()
                self.cameras_dropped.emit(self.index, ids)
            return
        try:
            src = int(bytes(event.mimeData().data(TILE_MIME)).decode())
        except ValueError:
            return
        if src != self.index:
            self.swap_requested.emit(src, self.index)
        event.acceptProposedAction()


def camera_ids_from_mime(data: bytes) -> list[str]:
    """The camera ids of a CAMERAS_MIME payload; [] for anything that is not a JSON list of strings."""
    try:
        ids = json.loads(data.decode())
    except (UnicodeDecodeError, ValueError):
        return []
    return [i for i in ids if isinstance(i, str) and i] if isinstance(ids, list) else []


def _image_buffer(arr):
    """A buffer QImage can read rows from at ``arr.strides[0]``, without copying when possible.

    PyAV's ``to_ndarray()`` returns a row-padded view (FFmpeg aligns line sizes) whose base is the
    plane itself: hand QImage the plane's buffer with the padded stride. Any other layout is copied.
    """
    if arr.flags["C_CONTIGUOUS"]:
        return arr.data
    base = arr.base
    ch = arr.shape[2]
    if base is not None and arr.strides[1:] == (ch, 1):
        try:
            mv = memoryview(base)
            if mv.nbytes >= arr.strides[0] * (arr.shape[0] - 1) + arr.shape[1] * ch:
                return mv
        except TypeError:
            pass
    return np.ascontiguousarray(arr).data


def _fit(w: int, h: int, r: QRect) -> QRectF:
    if w <= 0 or h <= 0:
        return QRectF(r)
    s = min(r.width() / w, r.height() / h)
    tw, th = w * s, h * s
    return QRectF(r.left() + (r.width() - tw) / 2, r.top() + (r.height() - th) / 2, tw, th)
