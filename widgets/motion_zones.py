"""Motion masks and zones editor: draw polygons on the camera's latest picture, save them normalised.

``open_motion_zones(parent, camera_config, frame=None)`` shows the dialog modally and returns the
camera's new :class:`~app.config.MotionSettings` (or None when cancelled). ``install_motion_zones_ui
(window, runtime)`` adds "Motion zones…" to every tile's context menu (non-modal there; on Save the
config is applied and saved through ``window.apply_config`` and the running detector adopts it at once).

Drawing: left click adds a point, double-click or Enter closes the polygon (3 points at least),
Backspace removes the last point, Esc drops the polygon being drawn, right-click deletes the shape
under the cursor (or, while drawing, the last point). The radio buttons choose what the next shape is:
a *mask* (motion there is ignored) or a *zone* (when any zone exists, only motion inside zones counts).
Coordinates are those of ``app.motion.detector``: 0..1 of the picture, x right, y down, so shapes
apply at any analysis size; they are taken relative to the drawn picture, not to the widget.
"""

from __future__ import annotations

import logging

import numpy as np
from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QVBoxLayout,
    QWidget,
)

from app.config import CameraConfig, MotionSettings
from widgets.arrangement import is_status_id

log = logging.getLogger(__name__)

MASK, ZONE = "mask", "zone"
COLORS = {MASK: QColor(230, 60, 60), ZONE: QColor(60, 200, 90)}
PLACEHOLDER_ASPECT = 16 / 9
Point = tuple[float, float]


def frame_to_qimage(frame) -> QImage | None:
    """A QImage (own copy) from a pipeline ``Frame``, an ndarray (grey, BGR or BGRA) or a QImage; None if none."""
    if frame is None:
        return None
    if isinstance(frame, QImage):
        return None if frame.isNull() else frame.copy()
    arr = getattr(frame, "image", frame)
    if not isinstance(arr, np.ndarray) or arr.dtype != np.uint8 or arr.ndim not in (2, 3):
        raise ValueError(f"cannot show a picture of type {type(frame).__name__}")
    arr = np.ascontiguousarray(arr)
    h, w = arr.shape[:2]
    if arr.ndim == 2:
        fmt = QImage.Format.Format_Grayscale8
    elif arr.shape[2] == 3:
        fmt = QImage.Format.Format_BGR888
    elif arr.shape[2] == 4:
        fmt = QImage.Format.Format_RGB32  # BGRA in memory, what the pipeline delivers
    else:
        raise ValueError(f"cannot show a picture with {arr.shape[2]} channels")
    return QImage(arr.data, w, h, arr.strides[0], fmt).copy()


class ZoneCanvas(QWidget):
    """The picture and the shapes; all editing happens here."""

    changed = Signal()

    def __init__(self, image: QImage | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.image = image
        self.shapes: list[tuple[str, list[Point]]] = []  # (MASK|ZONE, normalised points)
        self.drawing: list[Point] = []
        self.kind = MASK
        self.message = ""
        self.setMinimumSize(480, 270)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setMouseTracking(False)

    # ------------------------------------------------------------------ geometry
    def picture_rect(self) -> QRectF:
        """Where the picture is drawn: as large as fits, aspect ratio kept, centred."""
        aspect = self.image.width() / self.image.height() if self.image is not None else PLACEHOLDER_ASPECT
        w, h = float(self.width()), float(self.height())
        if w / max(h, 1.0) > aspect:
            pw, ph = h * aspect, h
        else:
            pw, ph = w, w / aspect
        return QRectF((w - pw) / 2, (h - ph) / 2, pw, ph)

    def to_norm(self, pos: QPointF) -> Point:
        r = self.picture_rect()
        x = min(max((pos.x() - r.left()) / r.width(), 0.0), 1.0)
        y = min(max((pos.y() - r.top()) / r.height(), 0.0), 1.0)
        return (round(x, 4), round(y, 4))

    def to_widget(self, p: Point) -> QPointF:
        r = self.picture_rect()
        return QPointF(r.left() + p[0] * r.width(), r.top() + p[1] * r.height())

    # ------------------------------------------------------------------ editing
    def add_point(self, p: Point) -> None:
        self.drawing.append(p)
        self.message = ""
        self.update()

    def close_polygon(self) -> bool:
        """Finish the shape being drawn; False (and a message) when it has fewer than 3 points."""
        pts = list(dict.fromkeys(self.drawing))  # a double-click may repeat the last point
        if len(pts) < 3:
            if self.drawing:
                self.message = "A shape needs at least 3 points: click more corners, then double-click."
                self.update()
            return False
        self.shapes.append((self.kind, pts))
        self.drawing = []
        self.message = ""
        self.update()
        self.changed.emit()
        return True

    def shape_at(self, pos: QPointF) -> int | None:
        """Index of the topmost shape containing *pos* (widget coordinates)."""
        for i in range(len(self.shapes) - 1, -1, -1):
            poly = QPolygonF([self.to_widget(p) for p in self.shapes[i][1]])
            if poly.containsPoint(pos, Qt.FillRule.OddEvenFill):
                return i
        return None

    def delete_shape(self, i: int) -> None:
        del self.shapes[i]
        self.update()
        self.changed.emit()

    def clear(self) -> None:
        self.shapes.clear()
        self.drawing.clear()
        self.update()
        self.changed.emit()

    def polygons(self, kind: str) -> list[list[Point]]:
        return [list(pts) for k, pts in self.shapes if k == kind]

    # ------------------------------------------------------------------ events
    def mousePressEvent(self, event) -> None:
        self.setFocus()
        if event.button() == Qt.MouseButton.LeftButton:
            self.add_point(self.to_norm(event.position()))
        elif event.button() == Qt.MouseButton.RightButton:
            if self.drawing:
                self.drawing.pop()
                self.update()
            elif (i := self.shape_at(event.position())) is not None:
                self.delete_shape(i)

    def mouseDoubleClickEvent(self, event) -> None:
        # Qt sends press, release, double-click, release: the first press already added this point
        if event.button() == Qt.MouseButton.LeftButton:
            self.close_polygon()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.close_polygon()
        elif key == Qt.Key.Key_Escape and self.drawing:
            self.drawing = []
            self.update()
        elif key == Qt.Key.Key_Backspace and self.drawing:
            self.drawing.pop()
            self.update()
        else:
            super().keyPressEvent(event)
            return
        event.accept()  # Enter/Esc here must not close the dialog

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.fillRect(self.rect(), QColor("#15181c"))
        r = self.picture_rect()
        if self.image is not None:
            p.drawImage(r, self.image)
        else:
            p.fillRect(r, QColor("#808080"))
            p.setPen(QColor("#303030"))
            p.drawText(r, Qt.AlignmentFlag.AlignCenter, "no picture from this camera yet")
        for kind, pts in self.shapes:
            c = QColor(COLORS[kind])
            path = QPainterPath()
            path.addPolygon(QPolygonF([self.to_widget(q) for q in pts]))
            path.closeSubpath()
            fill = QColor(c)
            fill.setAlpha(80)
            p.fillPath(path, fill)
            p.setPen(QPen(c, 2))
            p.drawPath(path)
        if self.drawing:
            c = COLORS[self.kind]
            p.setPen(QPen(c, 2, Qt.PenStyle.DashLine))
            pts = [self.to_widget(q) for q in self.drawing]
            p.drawPolyline(QPolygonF(pts))
            p.setBrush(c)
            for q in pts:
                p.drawEllipse(q, 3.5, 3.5)
        if self.message:
            p.setPen(QColor("#ffd27f"))
            p.drawText(self.rect().adjusted(8, 4, -8, -4), Qt.AlignmentFlag.AlignTop, self.message)
        p.end()


class MotionZonesDialog(QDialog):
    """Edit one camera's motion masks and zones; :meth:`settings` is the result."""

    def __init__(self, camera: CameraConfig, frame=None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.camera = camera
        self.setWindowTitle(f"Motion zones — {camera.name}")
        try:
            image = frame_to_qimage(frame)
        except ValueError as e:
            log.warning("motion zones: %s; showing a grey placeholder", e)
            image = None
        self.canvas = ZoneCanvas(image)
        for kind, polys in ((MASK, camera.motion.masks), (ZONE, camera.motion.zones)):
            for poly in polys:
                self.canvas.shapes.append((kind, [(float(x), float(y)) for x, y in poly]))
        self.mask_btn = QRadioButton("Mask: ignore motion here")
        self.zone_btn = QRadioButton("Zone: only motion inside zones counts")
        self.mask_btn.setChecked(True)
        group = QButtonGroup(self)
        group.addButton(self.mask_btn)
        group.addButton(self.zone_btn)
        self.mask_btn.toggled.connect(lambda on: self.set_kind(MASK if on else ZONE))
        self.clear_btn = QPushButton("Clear all")
        self.clear_btn.setAutoDefault(False)
        self.clear_btn.clicked.connect(self.canvas.clear)
        self.summary = QLabel()
        help_text = QLabel(
            "Click to add corners · double-click or Enter closes the shape · "
            "right-click deletes a shape (or the last corner) · Esc drops the shape being drawn"
        )
        help_text.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        for b in self.buttons.buttons():
            b.setAutoDefault(False)  # Enter belongs to the canvas (closes a shape), not to Save
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        row = QHBoxLayout()
        for w in (self.mask_btn, self.zone_btn, self.clear_btn):
            row.addWidget(w)
        row.addStretch(1)
        row.addWidget(self.summary)
        lay = QVBoxLayout(self)
        lay.addWidget(self.canvas, 1)
        lay.addLayout(row)
        lay.addWidget(help_text)
        lay.addWidget(self.buttons)
        self.canvas.changed.connect(self._update_summary)
        self._update_summary()
        self.resize(900, 620)
        self.canvas.setFocus()

    def set_kind(self, kind: str) -> None:
        self.canvas.kind = kind
        (self.mask_btn if kind == MASK else self.zone_btn).setChecked(True)
        self.canvas.update()

    def _update_summary(self) -> None:
        m, z = len(self.canvas.polygons(MASK)), len(self.canvas.polygons(ZONE))
        self.summary.setText(f"{m} mask(s), {z} zone(s)")

    def accept(self) -> None:
        self.canvas.close_polygon()  # a shape with 3+ corners still open is kept, not silently lost
        super().accept()

    def settings(self) -> MotionSettings:
        """The camera's MotionSettings with the drawn masks and zones (validated by the config model)."""
        data = self.camera.motion.model_dump()
        data["masks"] = self.canvas.polygons(MASK)
        data["zones"] = self.canvas.polygons(ZONE)
        return MotionSettings.model_validate(data)


def open_motion_zones(parent: QWidget | None, camera_config: CameraConfig, frame=None) -> MotionSettings | None:
    """Modal editor; the camera's new MotionSettings, or None when cancelled. *frame*: the latest picture
    (pipeline ``Frame``, ndarray or QImage) or None for a grey placeholder."""
    dlg = MotionZonesDialog(camera_config, frame, parent)
    try:
        return dlg.settings() if dlg.exec() == QDialog.DialogCode.Accepted else None
    finally:
        dlg.deleteLater()


def apply_motion_settings(window, runtime, camera_id: str, settings: MotionSettings) -> None:
    """Put *settings* into the config (applied and saved by the main window) and into the running detector."""
    cfg = runtime.config.model_copy(deep=True)
    cfg.camera(camera_id).motion = settings
    # Runtime.apply_config (through the window, which keeps the wall in step) saves it in the background,
    # restarts no pipeline for a zones edit and hands the settings to the running detector at once
    window.apply_config(cfg)


def install_motion_zones_ui(window, runtime):
    """Adds "Motion zones…" to the tile context menu (``window.tile_context_menu_hooks``); returns
    ``edit(camera_id) -> MotionZonesDialog`` (opened non-modal) for other code."""
    dialogs: list[MotionZonesDialog] = []

    def edit(camera_id: str) -> MotionZonesDialog:
        cam = runtime.config.camera(camera_id)
        pipe = runtime.supervisor.pipeline(camera_id)
        frame = pipe.slot.latest() if pipe is not None else None
        dlg = MotionZonesDialog(cam, frame, window)

        def done(result: int) -> None:
            if result == QDialog.DialogCode.Accepted:
                apply_motion_settings(window, runtime, camera_id, dlg.settings())
            dialogs.remove(dlg)
            dlg.deleteLater()

        dlg.finished.connect(done)
        dialogs.append(dlg)
        dlg.open()
        return dlg

    def add_action(menu, cid: str) -> None:
        if not is_status_id(cid):  # a status tile (analytics API) has no picture and no motion settings
            menu.addAction("Motion zones…", lambda: edit(cid))

    window.tile_context_menu_hooks.append(add_action)
    return edit
