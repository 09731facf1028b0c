"""One wall tile: the newest picture of a camera (already scaled off the GUI thread) and its health overlay.

The tile never touches a pipeline: the wall's frame service hands it ``Frame``s on its paint timer and
``HealthSnapshot``s on its health timer. The picture is a QImage wrapping the frame's numpy buffer
(BGRA = QImage RGB32; RGB888 also accepted). The tile keeps a reference to the array, so the buffer
outlives the QImage. It is drawn straight onto the raster backing store, no QPixmap upload per frame
(see docs/wall.md for the measurement).
"""

from __future__ import annotations

import html
import time
from dataclasses import replace

import numpy as np
from PySide6.QtCore import QMimeData, QPoint, QRect, QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QDrag, QFont, QFontMetrics, QImage, QPainter, QPen, QRegion
from PySide6.QtWidgets import QApplication, QSizePolicy, QWidget

from app.pipeline.frames import Frame
from app.pipeline.state import HealthSnapshot
from widgets.overlay_text import CONDITION_COLOR, RECOVERED_COLOR, OverlayText, overlay_text

TILE_MIME = "application/x-vigil-tile"
_BG = QColor("#07090c")
_SELECT = QColor("#4fb3ff")
FIGURES_REFRESH_S = 1.0  # fps/bitrate/latency figures on a tile refresh at most this often
REC_COLOR = "#b71c1c"  # the REC badge: a dark red, apart from the OFFLINE badge's brighter one
MOTION_COLOR = "#35d0c0"  # teal: distinct from the state colours (green/blue/amber/red/magenta)


class TileWidget(QWidget):
    activated = Signal(int)  # double-click
    clicked = Signal(int)
    swap_requested = Signal(int, int)  # (dragged tile index, dropped-on tile index)
    context_requested = Signal(int, QPoint)  # global position

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
        self.setToolTip(f"<p>{html.escape(f'{name} ({group})' if group else name)}</p>" if name else "")  # not HTML
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

    def set_snapshot(self, snap: HealthSnapshot | None) -> None:
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
        if img is None or self._text.down:
            p.fillRect(r, _BG)  # a down tile's picture is drawn translucent: over the background, not the old frame
        if img is not None:
            target = _fit(img.width(), img.height(), r)
            if not self._text.down:
                for band in self._letterbox(r, target):
                    p.fillRect(band, _BG)
            if self._text.down:
                # a down camera must never look live: desaturated and dimmed under the stamp
                if self._grey is None:
                    self._grey = img.convertToFormat(QImage.Format.Format_Grayscale8)
                p.setOpacity(0.35)
                p.drawImage(target, self._grey)
                p.setOpacity(1.0)
            else:
                p.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform, target.width() != img.width())
                p.drawImage(target, img)
                self.frames_painted += 1
        layer = self._overlay_layer(r, img is not None)
        for rr in self._layer_rects:
            p.drawImage(rr, layer, rr)

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
               self.drop_target, self._motion, getattr(self, "alarm_color", None), self._recording)  # fmt: skip
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
            p.setFont(self._font(max(10, r.height() / 12)))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "empty")
        else:
            if t.down or not has_image:
                self._draw_stamp(p, r, t)
            if self.show_overlay:
                self._draw_overlay(p, r, t, has_image)
            elif t.down or t.state != "LIVE":
                self._draw_badge_only(p, r, t)
        if self.camera_id and self._motion[0] and not t.down:
            self._draw_motion(p, r)
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
            pic = _fit(self._image.width(), self._image.height(), r)
            p.setPen(QPen(QColor(MOTION_COLOR), 2))
            p.setBrush(Qt.BrushStyle.NoBrush)
            for x, y, w, h in regions:
                p.drawRect(QRectF(pic.left() + x * pic.width(), pic.top() + y * pic.height(),
                                  w * pic.width(), h * pic.height()))  # fmt: skip
        fs = self._metrics(r)
        text = "MOTION" + (" · " + ", ".join(labels) if labels else "")
        f = self._font(fs * 0.8, bold=True)
        fm = QFontMetrics(f)
        h = int(fs * 1.3)
        w = min(fm.horizontalAdvance(text) + 12, r.width() - 8)
        bottom_bar = int(fs * 1.35) if self.show_overlay and r.height() >= 60 else 0
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

    def _metrics(self, r: QRect) -> float:
        return max(9.0, min(r.height() / 14.0, r.width() / 22.0, 26.0))

    def _badge(self, p: QPainter, right: int, top: int, h: int, t: OverlayText) -> int:
        """Draw the state badge ending at *right*; returns its left x."""
        f = self._font(h * 0.62, bold=True)
        fm = QFontMetrics(f)
        w = fm.horizontalAdvance(t.state) + int(h * 0.7)
        rect = QRect(right - w, top, w, h)
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
        fs = self._metrics(r)
        h = int(fs * 1.5)
        self._badge(p, r.right() - 4, r.top() + 4, h, t)

    def _draw_overlay(self, p: QPainter, r: QRect, t: OverlayText, has_image: bool) -> None:
        fs = self._metrics(r)
        bar_h = int(fs * 1.7)
        self._mark(self._words(QRect(r.left(), r.top(), r.width(), bar_h)))
        p.fillRect(QRect(r.left(), r.top(), r.width(), bar_h), QColor(0, 0, 0, 165))
        left = self._badge(p, r.right() - 3, r.top() + 3, bar_h - 6, t)
        p.setPen(QColor("#ffffff"))
        p.setFont(self._font(fs, bold=True))
        title_rect = QRect(r.left() + 6, r.top(), max(0, left - r.left() - 10), bar_h)
        title = QFontMetrics(p.font()).elidedText(t.title, Qt.TextElideMode.ElideRight, title_rect.width())
        p.drawText(title_rect, Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, title)
        y = r.top() + bar_h + 3
        if t.conditions:
            f = self._font(fs * 0.8, bold=True)
            fm = QFontMetrics(f)
            p.setFont(f)
            x = r.left() + 4
            ch = int(fs * 1.25)
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
        if bottom and r.height() >= 60:
            bar_top = r.bottom() - int(fs * 1.35) + 1
        if notice and r.height() >= 60:
            self._draw_notice(p, r, notice, bar_top)
        if bottom and r.height() >= 60:
            f = self._font(fs * 0.8)
            fm = QFontMetrics(f)
            bh = int(fs * 1.35)
            self._mark(self._words(QRect(r.left(), r.bottom() - bh + 1, r.width(), bh)))
            p.fillRect(QRect(r.left(), r.bottom() - bh + 1, r.width(), bh), QColor(0, 0, 0, 150))
            p.setFont(f)
            p.setPen(QColor("#d8dde5"))
            text = fm.elidedText(bottom, Qt.TextElideMode.ElideRight, r.width() - 12)
            p.drawText(QRect(r.left() + 6, r.bottom() - bh + 1, r.width() - 12, bh),
                       Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)  # fmt: skip

    def _draw_stamp(self, p: QPainter, r: QRect, t: OverlayText) -> None:
        """A down (or pictureless) tile's words, centred on a dark band over the greyed picture:

        the stamp (``OFFLINE since 21:53:13``, 1.35x the tile's text size, bold, in the state's colour),
        what Vigil is doing (``reconnecting: attempt 4 in 8 s``, 1x, bold, white) and why (the reason,
        0.9x, wrapped). Sized from ``_metrics`` like the rest of the overlay, so the stamp of a 4x4 tile on
        a 1080p monitor is ~25 px high: readable from across a control room.
        """
        self._mark(r)  # a down or pictureless tile repaints rarely: the whole layer
        fs = self._metrics(r)
        stamp = t.stamp or ("CONNECTING…" if t.state == "CONNECTING" else "NO PICTURE")
        # a down tile's stamp, and a status tile's own state word ("API: RUNNING"), in the state's colour
        color = QColor(t.stamp_color or t.color) if t.down or t.stamp else QColor("#8a93a0")
        box = r.adjusted(8, int(fs * 2), -8, -8)
        f = self._font(fs * 1.35, bold=True)
        fm = QFontMetrics(f)
        lh = fm.height()
        act_f = self._font(fs, bold=True)
        afm = QFontMetrics(act_f)
        ah = afm.height() + 2 if t.activity else 0
        reason_f = self._font(fs * 0.9)
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
        fs = self._metrics(r)
        f = self._font(fs * 0.9, bold=True)
        fm = QFontMetrics(f)
        h = int(fs * 1.45)
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
            self.clicked.emit(self.index)
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event) -> None:
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
        super().mouseReleaseEvent(event)

    def mouseDoubleClickEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            self.activated.emit(self.index)

    def contextMenuEvent(self, event) -> None:
        self.context_requested.emit(self.index, event.globalPos())

    def dragEnterEvent(self, event) -> None:
        if event.mimeData().hasFormat(TILE_MIME) and self.index >= 0:
            self.drop_target = True
            self.update()
            event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:
        self.drop_target = False
        self.update()

    def dropEvent(self, event) -> None:
        self.drop_target = False
        self.update()
        try:
            src = int(bytes(event.mimeData().data(TILE_MIME)).decode())
        except ValueError:
            return
        if src != self.index:
            self.swap_requested.emit(src, self.index)
        event.acceptProposedAction()


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
