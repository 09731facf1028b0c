"""Recording player: picture, per-camera timeline (segments + motion marks), scrub/seek, speed, next
event, snapshot (PNG) and clip export (MP4 by stream copy).

Backends: :class:`VlcBackend` (libvlc plays files well; embedded in the widget's native window, so
only on a real window system) and the PyAV fallback (``app.recording.playback.PyAvPlayback`` on a
worker thread; the widget pulls its latest frame on a timer, never one signal per frame).

File work (lock / unlock a segment, snapshot, clip export) runs on the widget's
:class:`~widgets.tasks.TaskRunner`: one worker, so the operator's requests happen in the order given,
and outcomes come back on the GUI thread. Closing the player never waits for it: an export in flight
finishes its file, and its outcome is dropped with the closed window.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from pathlib import Path

from PySide6.QtCore import QRectF, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.recording.playback import PyAvPlayback, Timeline, export_clip, save_snapshot
from app.recording.segments import lock_segment
from widgets.tasks import TaskRunner

log = logging.getLogger(__name__)

SPEEDS = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)
LOCKED_COLOR = "#d9a13d"  # a locked segment (kept by retention) on the timeline
EVENT_LEAD_S = 1.0  # show this much before a motion event
CLIP_COLOR = "#35d0c0"  # the marked clip range on the timeline
DEFAULT_CLIP_S = 60.0  # Export clip without an out point: this long from the in point (or the play head)


def _hms(t: float) -> str:
    return time.strftime("%H:%M:%S", time.localtime(t))


def vlc_instance(args: tuple[str, ...] = ("--no-xlib", "--quiet")):
    """A libvlc instance, or None when python-vlc/libvlc is missing or refuses to start."""
    try:
        import vlc
    except (ImportError, OSError):
        return None
    except SystemExit:  # python-vlc calls sys.exit(1) when PYTHON_VLC_LIB_PATH/_MODULE_PATH is wrong
        log.warning("player: python-vlc refused its PYTHON_VLC_LIB_PATH / PYTHON_VLC_MODULE_PATH")
        return None
    try:
        return vlc.Instance(list(args))
    except Exception:
        return None


class VlcBackend:
    """Plays the timeline's segment files one after another through libvlc.

    libvlc is asynchronous: ``play()`` returns before the file is open, and a ``set_time`` issued
    before the input is playing is silently dropped. So nothing here blocks or waits: ``seek`` loads
    the file and remembers the wanted offset, and :meth:`tick` (called by the widget's GUI timer,
    40 ms) applies it once the player reports Playing/Paused and seekable, and, at end of media,
    loads the next segment from its start. Polling is used instead of libvlc's event manager because
    its callbacks run on a libvlc thread from which calling the player again deadlocks, and they would
    have to hop to the GUI thread anyway.
    """

    def __init__(self, timeline: Timeline, instance, window_id: int | None = None) -> None:
        import vlc

        self._vlc = vlc
        self.timeline = timeline
        self.instance = instance
        self.player = instance.media_player_new()
        if window_id:
            self.player.set_xwindow(int(window_id))
        self._index = -1
        self._speed = 1.0
        self._playing = False  # what the operator asked for
        self._pending_ms: int | None = None  # a seek waiting for the input to be playing
        self.position: float | None = timeline.start
        self.segment_changes = 0  # segments entered by playing on (not by seeking): status and tests

    @property
    def index(self) -> int:
        return self._index

    def _load(self, i: int) -> None:
        """Open segment *i* and start the input (paused again by tick() when the operator paused)."""
        self.player.set_media(self.instance.media_new(self.timeline.segments[i].path))
        self._index = i
        self.player.play()
        self.player.set_rate(self._speed)

    def seek(self, t: float) -> None:
        loc = self.timeline.locate(t)
        if loc is None:
            return
        i, offset = loc
        ms = int(offset * 1000)
        self.position = self.timeline.segments[i].start + offset
        s = self._vlc.State
        if i != self._index or self.player.get_state() in (s.Ended, s.Stopped, s.Error, s.NothingSpecial):
            self._load(i)
            self._pending_ms = ms
            return
        if self._ready():
            self.player.set_time(ms)
            self._pending_ms = None
        else:
            self._pending_ms = ms

    def _ready(self) -> bool:
        st = self.player.get_state()
        return st in (self._vlc.State.Playing, self._vlc.State.Paused) and bool(self.player.is_seekable())

    def tick(self) -> None:
        """GUI timer: apply a pending seek once the input plays; at end of a segment, play the next."""
        if self._index < 0:
            return
        st = self.player.get_state()
        if self._pending_ms is not None and st in (self._vlc.State.Ended, self._vlc.State.Error):
            self._pending_ms = None  # the file cannot be played (corrupt, or deleted by retention): move on
        if self._pending_ms is not None:
            if self._ready():
                self.player.set_time(self._pending_ms)
                self._pending_ms = None
                if not self._playing:
                    self.player.set_pause(1)
            return
        if st == self._vlc.State.Ended or st == self._vlc.State.Error:
            if st == self._vlc.State.Error:
                log.warning("player: libvlc cannot play %s", self.timeline.segments[self._index].path)
            if self._playing and self._index + 1 < len(self.timeline.segments):
                self._load(self._index + 1)
                self.segment_changes += 1
            elif self._playing:
                self._playing = False  # the end of the recording
        elif st == self._vlc.State.Playing and not self._playing:
            self.player.set_pause(1)

    def current_time(self) -> float | None:
        if self._index < 0:
            return None
        if self._pending_ms is not None:  # the seek target, not the 0 of a file still opening
            return self.timeline.segments[self._index].start + self._pending_ms / 1000.0
        ms = self.player.get_time()
        return None if ms < 0 else self.timeline.segments[self._index].start + ms / 1000.0

    @property
    def playing(self) -> bool:
        return self._playing

    def play(self) -> None:
        self._playing = True
        if self._index < 0:
            if not self.timeline.segments:
                return
            self._load(0)
            return
        if self.player.get_state() in (self._vlc.State.Ended, self._vlc.State.Stopped):
            self._load(self._index)
            return
        self.player.set_pause(0)

    def pause(self) -> None:
        self._playing = False
        self.player.set_pause(1)

    def set_speed(self, speed: float) -> None:
        self._speed = speed
        self.player.set_rate(speed)

    def stop(self) -> None:
        self.player.stop()
        self.player.release()


class TimelineBar(QWidget):
    """Segments as blocks, motion events as marks, the play head; click or drag to seek."""

    seek_requested = Signal(float)
    lock_requested = Signal(int, bool)  # segment index, lock (True) / unlock (False)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setMinimumHeight(28)
        self.timeline: Timeline | None = None
        self.head: float | None = None
        self.clip: tuple[float | None, float | None] = (None, None)  # marked in / out points
        self.menu: QMenu | None = None  # the last context menu (kept so it is not garbage-collected)

    def set_timeline(self, tl: Timeline) -> None:
        self.timeline = tl
        self.update()

    def set_head(self, t: float | None) -> None:
        self.head = t
        self.update()

    def set_clip(self, start: float | None, end: float | None) -> None:
        self.clip = (start, end)
        self.update()

    def _span(self) -> tuple[float, float]:
        tl = self.timeline
        if not tl or tl.start is None:
            return (0.0, 1.0)
        return (tl.start, max(tl.end, tl.start + 1))

    def x_for(self, t: float) -> float:
        a, b = self._span()
        return (t - a) / (b - a) * self.width()

    def t_for(self, x: float) -> float:
        a, b = self._span()
        return a + min(max(x / max(self.width(), 1), 0.0), 1.0) * (b - a)

    def paintEvent(self, _event) -> None:
        p = QPainter(self)
        p.fillRect(self.rect(), QColor("#20242a"))
        if self.timeline:
            h = self.height()
            for s in self.timeline.segments:
                p.fillRect(QRectF(self.x_for(s.start), h * 0.35, max(1.0, self.x_for(s.end) - self.x_for(s.start)),
                                  h * 0.4), QColor(LOCKED_COLOR if s.locked else "#3d7bd9"))  # fmt: skip
            for e in self.timeline.events:
                p.fillRect(QRectF(self.x_for(e.start), 0, max(2.0, self.x_for(e.end) - self.x_for(e.start)), h * 0.3),
                           QColor("#f1a340"))  # fmt: skip
            a, b = self.clip
            if a is not None:  # the marked clip: a band from in to out (or a tick at in, before out is set)
                x0 = self.x_for(a)
                w = max(2.0, self.x_for(b) - x0) if b is not None and b > a else 2.0
                p.fillRect(QRectF(x0, h * 0.78, w, h * 0.22), QColor(CLIP_COLOR))
            if self.head is not None:
                p.fillRect(QRectF(self.x_for(self.head) - 1, 0, 2, h), QColor("white"))
        p.end()

    def segment_at(self, x: float) -> int | None:
        """Index of the segment under *x* (the nearest one within 3 px, so a 1 px block can be hit)."""
        if not self.timeline or not self.timeline.segments:
            return None
        t = self.t_for(x)
        slack = 3 * (self._span()[1] - self._span()[0]) / max(self.width(), 1)
        best = None
        for i, s in enumerate(self.timeline.segments):
            d = 0.0 if s.start <= t < s.end else min(abs(t - s.start), abs(t - s.end))
            if d <= slack and (best is None or d < best[0]):
                best = (d, i)
        return None if best is None else best[1]

    def context_menu_at(self, x: float) -> QMenu | None:
        """The timeline's context menu for position *x*: lock / unlock the segment there."""
        i = self.segment_at(x)
        if i is None:
            return None
        seg = self.timeline.segments[i]
        hms = [time.strftime("%H:%M:%S", time.localtime(t)) for t in (seg.start, seg.end)]
        span = f"{hms[0]} to {hms[1]}"
        if self.menu is not None:
            self.menu.deleteLater()  # one menu at a time, not one per right-click for the widget's life
        menu = QMenu(self)
        if seg.locked:
            menu.addAction(f"Unlock segment {span}", lambda: self.lock_requested.emit(i, False))
        else:
            menu.addAction(f"Lock segment {span} (retention keeps it)", lambda: self.lock_requested.emit(i, True))
        self.menu = menu
        return menu

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.RightButton:
            menu = self.context_menu_at(event.position().x())
            if menu is not None:
                menu.popup(event.globalPosition().toPoint())
            return
        self.seek_requested.emit(self.t_for(event.position().x()))

    def mouseMoveEvent(self, event) -> None:
        if event.buttons() & Qt.MouseButton.LeftButton:
            self.seek_requested.emit(self.t_for(event.position().x()))


class PlayerWidget(QWidget):
    """``PlayerWidget(timeline, backend="auto"|"pyav"|"vlc", index=...)``; call ``close_player()`` before
    deleting. *index* (the recorder's SegmentIndex) receives lock/unlock mirrors (the store's flag)."""

    # outcomes of the file work, on the GUI thread after the widget showed them (for listeners and tests)
    lock_finished = Signal(str, bool, str)  # segment path, locked now, error ("" = done)
    file_written = Signal(str, str, str)  # what ("clip"/"snapshot"), path, error ("" = done)

    def __init__(self, timeline: Timeline, backend: str = "auto", export_dir: Path | None = None,
                 parent: QWidget | None = None, index=None) -> None:  # fmt: skip
        super().__init__(parent)
        self.timeline = timeline
        self.index = index
        self.export_dir = export_dir or Path.home()
        self.notice = QLabel("")
        self.notice.setWordWrap(True)
        self.picture = QLabel("no recording" if not timeline.segments else "")
        self.picture.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.picture.setMinimumSize(320, 180)
        self.picture.setStyleSheet("background: black; color: #aaa")
        self.bar = TimelineBar()
        self.bar.set_timeline(timeline)
        self.clock = QLabel("--:--:--")
        self.play_btn = QPushButton("Play")
        self.speed = QComboBox()
        for s in SPEEDS:
            self.speed.addItem(f"{s:g}x", s)
        self.speed.setCurrentIndex(SPEEDS.index(1.0))
        self.next_btn = QPushButton("Next event")
        self.prev_btn = QPushButton("Previous event")
        self.snap_btn = QPushButton("Snapshot")
        self.mark_in_btn = QPushButton("Mark in")
        self.mark_out_btn = QPushButton("Mark out")
        self.export_btn = QPushButton("Export clip")
        self.clip_in: float | None = None
        self.clip_out: float | None = None
        row = QHBoxLayout()
        for w in (self.play_btn, self.speed, self.prev_btn, self.next_btn, self.snap_btn, self.mark_in_btn,
                  self.mark_out_btn, self.export_btn, self.clock):  # fmt: skip
            row.addWidget(w)
        lay = QVBoxLayout(self)
        lay.addWidget(self.picture, 1)
        lay.addWidget(self.bar)
        lay.addLayout(row)
        lay.addWidget(self.notice)
        # recordings may sit on a NAS: lock/unlock, snapshots and clip exports run on one worker, never on
        # the GUI thread (a clip export reads and writes up to minutes of video)
        self._tasks = TaskRunner(parent=self, name="ui:player", max_workers=1)
        self.bar.lock_requested.connect(self.set_segment_locked)
        self.backend_name = self._pick_backend(backend)
        self.pyav: PyAvPlayback | None = None
        self.vlc: VlcBackend | None = None
        if self.backend_name == "vlc":
            self.picture.setAttribute(Qt.WidgetAttribute.WA_NativeWindow)
            self.vlc = VlcBackend(timeline, self._vlc, int(self.picture.winId()))
        else:
            self.pyav = PyAvPlayback(timeline, max_width=1280)
        self._last_seq = 0
        self._playing = False
        self.position: float | None = timeline.start
        self.bar.seek_requested.connect(self.seek)
        self.play_btn.clicked.connect(self.toggle_play)
        self.speed.currentIndexChanged.connect(lambda _i: self.set_speed(self.speed.currentData()))
        self.next_btn.clicked.connect(self.next_event)
        self.prev_btn.clicked.connect(self.previous_event)
        self.snap_btn.clicked.connect(self._ask_snapshot)
        self.export_btn.clicked.connect(self._ask_export)
        self.mark_in_btn.clicked.connect(lambda: self.mark_in(self.position))
        self.mark_out_btn.clicked.connect(lambda: self.mark_out(self.position))
        self._timer = QTimer(self)
        self._timer.timeout.connect(self._refresh)
        self._timer.start(40)
        if timeline.start is not None:
            self.seek(timeline.start)

    def _pick_backend(self, wanted: str) -> str:
        from PySide6.QtGui import QGuiApplication

        self._vlc = None
        if wanted == "pyav":
            return "pyav"
        native = QGuiApplication.platformName() == "xcb"
        if wanted == "vlc" or (wanted == "auto" and native):
            self._vlc = vlc_instance()
            if self._vlc is not None and native:
                return "vlc"
            log.info(
                "player: libvlc %s, using the PyAV decoder", "missing" if self._vlc is None else "cannot embed here"
            )
        return "pyav"

    # ------------------------------------------------------------------ commands
    def seek(self, t: float) -> None:
        (self.vlc or self.pyav).seek(t)
        self.position = t
        self.bar.set_head(t)

    def toggle_play(self) -> None:
        self._playing = not self._playing
        b = self.vlc or self.pyav
        b.play() if self._playing else b.pause()
        self.play_btn.setText("Pause" if self._playing else "Play")

    def set_speed(self, speed: float) -> None:
        (self.vlc or self.pyav).set_speed(float(speed))

    def next_event(self) -> None:
        # playback starts EVENT_LEAD_S before an event; from there, "next" must move on to the following one
        e = self.timeline.next_event((self.position or 0.0) + EVENT_LEAD_S)
        if e is not None:
            self.seek(max(e.start - EVENT_LEAD_S, self.timeline.start or e.start))

    def previous_event(self) -> None:
        e = self.timeline.previous_event((self.position or 0.0) + EVENT_LEAD_S)
        if e is not None:
            self.seek(max(e.start - EVENT_LEAD_S, self.timeline.start or e.start))

    def set_segment_locked(self, i: int, locked: bool) -> None:
        """Lock (retention never deletes it) or unlock segment *i*: marker file, then the index mirror."""
        path = self.timeline.segments[i].path
        index = self.index
        self._tasks.run(
            lambda: lock_segment(path, locked, index),
            lambda _done: self._on_lock_finished(path, locked, ""),
            lambda e: self._on_lock_finished(path, not locked, str(e)),  # it stays as it was; say why
        )

    def _on_lock_finished(self, path: str, locked: bool, error: str) -> None:
        segs = tuple(replace(s, locked=locked) if s.path == path else s for s in self.timeline.segments)
        self.timeline = replace(self.timeline, segments=segs)
        self.bar.set_timeline(self.timeline)
        name = Path(path).name
        if error:
            self.notice.setText(f"Could not {'unlock' if locked else 'lock'} {name}: {error}")
        else:
            self.notice.setText(f"{name} {'locked: retention keeps it' if locked else 'unlocked'}")
        self.lock_finished.emit(path, locked, error)

    def snapshot(self, png: Path, at: float | None = None) -> Path:
        loc = self.timeline.locate(self.position or 0.0 if at is None else at)
        if loc is None:
            raise ValueError("nothing to snapshot here")
        i, off = loc
        return save_snapshot(self.timeline.segments[i].path, off, png)

    def export(self, start: float, end: float, out: Path) -> Path:
        return export_clip(self.timeline, start, end, out)

    # ------------------------------------------------------------------ clip range
    def mark_in(self, t: float | None) -> None:
        self.clip_in = t
        if t is not None and self.clip_out is not None and self.clip_out <= t:
            self.clip_out = None  # an out point before the new in point is meaningless
        self._show_clip()

    def mark_out(self, t: float | None) -> None:
        if t is not None and self.clip_in is not None and t <= self.clip_in:
            self.notice.setText("The out point must come after the in point.")
            return
        self.clip_out = t
        self._show_clip()

    def clip_range(self) -> tuple[float, float]:
        """The marked clip; without both marks, DEFAULT_CLIP_S from the in point (or from the play head)."""
        start = self.clip_in if self.clip_in is not None else (self.position or self.timeline.start or 0.0)
        end = self.clip_out if self.clip_out is not None and self.clip_out > start else start + DEFAULT_CLIP_S
        return start, end

    def _show_clip(self) -> None:
        self.bar.set_clip(self.clip_in, self.clip_out)
        a, b = self.clip_range()
        self.notice.setText(
            f"Clip {_hms(a)} to {_hms(b)} ({b - a:.0f} s)" + ("" if self.clip_out else ": mark out to end it")
        )

    def export_in_background(self, start: float, end: float, out: Path) -> None:
        """Stream-copy [start, end] into *out* on the worker; file_written reports the outcome in words."""
        self._in_background("clip", out, lambda: self.export(start, end, out))

    def snapshot_in_background(self, png: Path) -> None:
        at = self.position  # the picture on screen now, not wherever playback is when the worker gets to it
        self._in_background("snapshot", png, lambda: self.snapshot(png, at))

    def _in_background(self, what: str, path: Path, job) -> None:
        self.notice.setText(f"Writing the {what} to {path}…")

        def work() -> None:
            try:
                job()
            except Exception:  # logged here, so also when the window was closed meanwhile
                log.warning("player: writing the %s to %s failed", what, path, exc_info=True)
                raise

        # whatever the failure, the operator is told (on_error), never a silently lost Future
        self._tasks.run(
            work,
            lambda _done: self._on_file_written(what, str(path), ""),
            lambda e: self._on_file_written(what, str(path), str(e) or type(e).__name__),
        )

    def _on_file_written(self, what: str, path: str, error: str) -> None:
        if error:
            self.notice.setText(f"Could not write the {what}: {error}")
        else:
            self.notice.setText(f"{what.capitalize()} saved: {path}")
        self.file_written.emit(what, path, error)

    def _ask_snapshot(self) -> None:
        name = f"{self.timeline.camera_id}_{time.strftime('%Y%m%d-%H%M%S', time.localtime(self.position or 0))}.png"
        path, _ = QFileDialog.getSaveFileName(self, "Save snapshot", str(self.export_dir / name), "PNG (*.png)")
        if path:
            self.snapshot_in_background(Path(path))

    def _ask_export(self) -> None:
        start, end = self.clip_range()
        name = f"{self.timeline.camera_id}_{time.strftime('%Y%m%d-%H%M%S', time.localtime(start))}.mp4"
        title = f"Export clip {_hms(start)} to {_hms(end)}"
        path, _ = QFileDialog.getSaveFileName(self, title, str(self.export_dir / name), "MP4 (*.mp4)")
        if path:
            self.export_in_background(start, end, Path(path))

    # ------------------------------------------------------------------ display
    def _refresh(self) -> None:
        if self.pyav is not None:
            f = self.pyav.slot.peek(self._last_seq)
            if f is not None:
                self._last_seq = f.seq
                img = QImage(f.image.data, f.width, f.height, f.image.strides[0], QImage.Format.Format_RGB888)
                from PySide6.QtGui import QPixmap

                pm = QPixmap.fromImage(img).scaled(self.picture.size(), Qt.AspectRatioMode.KeepAspectRatio,
                                                   Qt.TransformationMode.SmoothTransformation)  # fmt: skip
                self.picture.setPixmap(pm)
                self.position = f.pts_s
        elif self.vlc is not None:
            self.vlc.tick()  # pending seek, next segment at end of file (never blocks)
            t = self.vlc.current_time()
            if t is not None:
                self.position = t
        if self._playing and not (self.vlc or self.pyav).playing:  # played to the end of the recording
            self._playing = False
            self.play_btn.setText("Play")
        if self.position is not None:
            self.bar.set_head(self.position)
            self.clock.setText(time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(self.position)))

    def close_player(self) -> None:
        self._timer.stop()
        # never wait on the GUI thread: a clip export in flight may take minutes (the worker finishes the file;
        # its outcome is dropped, the window is closed)
        self._tasks.shutdown(wait=False)
        if self.pyav is not None:
            self.pyav.stop()
        if self.vlc is not None:
            self.vlc.stop()

    def closeEvent(self, event) -> None:
        self.close_player()
        super().closeEvent(event)
