"""Live audio of the focused camera: one camera heard at a time, off until the operator asks for it.

::

    WallView.focus_changed(cid) ─> LiveAudio (GUI thread)
        attach: AudioTap on the focused camera's own pipeline (main stream if there is one, else the tile's)
        strip:  AudioStrip on the focus tile (Sound off/on button, level meter, words), refreshed at 2 Hz
        sound:  a reconcile job on the "audio:live" TaskRunner thread opens or closes the PortAudio stream;
                PortAudio's own thread runs LivePlayer.callback, which copies samples out of the tap's ring

Decisions:

* **Off at every focus.** A control room does not want a camera's microphone (a car park, a reception desk,
  a private conversation) in the room until an operator asks for it, and the sound heard must always be the
  camera the operator chose to hear: each new focus starts with the sound off; M (or the button) turns it on
  for that camera. The device is held only while sound is on.
* **Same audio stack as the alarm sound** (``AlarmSound``): PortAudio through ``sounddevice``; Qt Multimedia's
  QAudioSink is in the 175 MB PySide6-Addons wheel (docs/alerts.md, Sound). Every PortAudio call (device
  list, stream open/close) runs on the ``audio:live`` worker: a hung sound server must not freeze the wall.
  The worker holds its own PortAudio reference while a stream is open (``sounddevice._initialize``: reference
  counted), so the alarm sound's periodic device re-scan (terminate + initialize) does not tear this stream
  down; when no output device is found, the worker re-scans once itself (nothing can be playing then).
* **No second connection.** The tap is a packet sink on the pipeline that already shows the camera; it joins
  the running connection at its next packet and leaves at unfocus (``CameraPipeline.add/remove_packet_sink``).
  ``AudioTap.close`` is not joined on the GUI thread: the flag stops it at once, the worker reaps the thread.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QLabel, QPushButton, QWidget

from app.pipeline.audio import NO_AUDIO, WAITING, AudioTap, PcmRing
from app.pipeline.supervisor import MAIN, TILE
from widgets.tasks import TaskRunner
from widgets.text_sizes import FLOOR_PX, PREFERRED_TITLE_OF_WALL, tile_text_sizes

log = logging.getLogger(__name__)

CANNOT_PLAY = "live audio cannot be played"
NO_DEVICE = f"No audio output device: {CANNOT_PLAY}"
METER_FLOOR_DBFS = -60.0  # the meter's left end; EBU R68 alignment -18 dBFS and the red zone above -6 dBFS
METER_YELLOW_DBFS = -18.0
METER_RED_DBFS = -6.0
BLOCK_FRAMES = 1024  # PortAudio callback size: 21 ms at 48 kHz


def sentence(words: str) -> str:
    """A core phrase ("this camera sends no audio") as a sentence on screen."""
    return words[:1].upper() + words[1:] if words else ""


def meter_fraction(level_dbfs: float | None, floor: float = METER_FLOOR_DBFS) -> float:
    """How much of the meter a level fills: 0 at *floor* dBFS or no sound, 1 at 0 dBFS (linear in dB)."""
    if level_dbfs is None or level_dbfs <= floor:
        return 0.0
    return min(1.0, (level_dbfs - floor) / -floor)


class LevelMeter(QWidget):
    """A horizontal peak bar: green, yellow from -18 dBFS, red from -6 dBFS; grey frame when there is no sound."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.level_dbfs: float | None = None
        self.setAccessibleName("Sound level")

    def set_level(self, level_dbfs: float | None) -> None:
        if level_dbfs != self.level_dbfs:
            self.level_dbfs = level_dbfs
            self.update()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        r = self.rect().adjusted(1, 1, -1, -1)
        p.fillRect(r, QColor(20, 20, 20))
        fill = meter_fraction(self.level_dbfs)
        if fill > 0:
            w = int(r.width() * fill)
            zones = ((METER_FLOOR_DBFS, METER_YELLOW_DBFS, "#34c759"), (METER_YELLOW_DBFS, METER_RED_DBFS, "#ffcc00"),
                     (METER_RED_DBFS, 0.0, "#ff3b30"))  # fmt: skip
            for lo, hi, color in zones:
                x0 = r.left() + int(r.width() * meter_fraction(lo + 1e-9))
                x1 = r.left() + int(r.width() * meter_fraction(hi)) if hi < 0 else r.right() + 1
                x1 = min(x1, r.left() + w)
                if x1 > x0:
                    p.fillRect(QRect(x0, r.top(), x1 - x0, r.height()), QColor(color))
        p.setPen(QColor(200, 200, 200))
        p.drawRect(r)
        p.end()


class AudioStrip(QWidget):
    """The strip on the focus tile: the Sound button, the level meter and words; placed bottom-centre, above
    the tile's figures bar (the MOTION badge takes bottom-left, ZOOM bottom-right)."""

    def __init__(self, tile: QWidget) -> None:
        super().__init__(tile)
        self.setObjectName("liveAudioStrip")
        self.button = QPushButton(self)
        self.button.setObjectName("liveAudioButton")
        self.button.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # the wall keeps the keyboard (Esc, arrows)
        self.meter = LevelMeter(self)
        self.words = QLabel(self)
        self.words.setObjectName("liveAudioWords")
        self.words.setTextFormat(Qt.TextFormat.PlainText)
        self.words.setWordWrap(True)
        self._muted = True
        tile.installEventFilter(self)
        self.hide()

    def eventFilter(self, obj: QObject, event: QEvent) -> bool:
        if obj is self.parent() and event.type() in (QEvent.Type.Resize, QEvent.Type.Show):
            self.place()
        return False

    def place(self) -> None:
        """Sized by the wall's text rules (``widgets.text_sizes``): the words at the preferred title size of
        the wall (1/32 of its height: 20.5 mm on a 55" panel, read from 3 m; 33 px at 1080p, 67 px at 4K), never
        larger than the tile's figures line; placed just above that line."""
        tile = self.parentWidget()
        w, h = tile.width(), tile.height()
        wall = tile.parentWidget()
        wall_h = wall.height() if wall is not None else h
        sizes = tile_text_sizes(w, h, wall_h)
        fs = max(FLOOR_PX, min(sizes.figures, int(wall_h * PREFERRED_TITLE_OF_WALL)))
        font = QFont(self.font())
        font.setPixelSize(fs)
        font.setBold(True)
        for wid in (self.button, self.words):
            wid.setFont(font)
        self.button.setStyleSheet(self._button_style(fs))
        self.words.setStyleSheet("color: #ffd60a;")
        # laid out by hand: one row (button, meter), the words wrapped under it at most 80 % of the tile wide
        fm = QFontMetrics(font)
        pad, gap = max(4, fs // 3), max(6, fs // 2)
        row = self.button.isVisibleTo(self)
        bw, bh = (fm.horizontalAdvance(self.button.text()) + 2 * fs, int(fs * 1.6)) if row else (0, 0)
        mw, mh = (fs * 8, int(fs * 0.9)) if row else (0, 0)
        row_w = bw + gap + mw if row else 0
        text = self.words.text()
        lw = max(row_w, min(fm.horizontalAdvance(text) + 4, int(w * 0.8))) if text else row_w
        lh = fm.boundingRect(QRect(0, 0, lw, 10 * h), int(Qt.TextFlag.TextWordWrap), text).height() if text else 0
        inner_w = min(max(row_w, lw), w - 16 - 2 * pad)
        words_top = pad + (bh + gap // 2 if row else 0)
        sw, sh = inner_w + 2 * pad, words_top + (lh if text else -gap // 2 if row else 0) + pad
        self.button.setGeometry(pad, pad, bw, bh)
        self.meter.setGeometry(pad + bw + gap, pad + (bh - mh) // 2, mw, mh)
        self.words.setGeometry(pad, words_top, inner_w, lh)
        figures_bar = sizes.figures_h if sizes.show_figures else 0  # TileWidget's bottom line (tile._sizes)
        self.setGeometry((w - sw) // 2, h - figures_bar - sh - max(4, fs // 4), sw, sh)
        self.raise_()

    def _button_style(self, fs: int) -> str:
        bg = "#1f6f3f" if not self._muted else "#3a3a3c"
        return (f"QPushButton {{ background: {bg}; color: white; border: 2px solid #d0d0d0; border-radius: "
                f"{fs // 3}px; padding: 0 {fs // 2}px; }} QPushButton:disabled {{ color: #9a9a9a; border-color: "
                "#5a5a5a; }")  # fmt: skip

    def show_state(self, muted: bool, can_listen: bool, level: float | None, words: str) -> None:
        self._muted = muted
        text = "Sound off: press M to listen" if muted else "Sound on: press M to mute"
        changed = text != self.button.text() or words != self.words.text() or can_listen != self.button.isEnabled()
        self.button.setText(text)
        self.button.setEnabled(can_listen)
        self.button.setVisible(can_listen)  # nothing to listen to: the words alone say why
        self.meter.setVisible(can_listen)
        self.meter.set_level(level if can_listen else None)
        self.words.setText(words)
        self.words.setVisible(bool(words))
        if changed:
            self.place()

    def paintEvent(self, event) -> None:
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setBrush(QColor(0, 0, 0, 190))
        p.setPen(Qt.PenStyle.NoPen)
        radius = self.height() / 5
        p.drawRoundedRect(self.rect(), radius, radius)
        p.end()


class LivePlayer:
    """Worker side (the ``audio:live`` thread): the PortAudio stream. ``ring`` is swapped whole (atomic under
    the GIL) and read by PortAudio's callback thread."""

    def __init__(self) -> None:
        self.ring: PcmRing | None = None
        self.device = ""
        self.callbacks = 0  # PortAudio callbacks run (tests: the stream really plays)
        self._sd = None
        self._missing = ""
        self._stream = None
        self._held = False  # this player holds a PortAudio reference (while its stream is open)

    @property
    def playing(self) -> bool:
        return self._stream is not None

    def callback(self, outdata, frames: int, time_info, status) -> None:
        """PortAudio's thread: copy the next samples out of the ring (silence when there is none)."""
        self.callbacks += 1
        ring = self.ring
        if ring is None:
            outdata.fill(0)
        else:
            outdata[:] = ring.read(frames)

    def reconcile(self, ring: PcmRing | None) -> str:
        """Play *ring* (None: play nothing and release the device). Returns the words ('' = fine)."""
        if ring is None:
            self.ring = None
            self._close()
            return ""
        if ring is not self.ring:
            ring.reset_reader()
            self.ring = ring
        if self._stream is not None:
            return ""
        sd = self._load()
        if sd is None:
            self.ring = None
            return f"Sound library missing: {self._missing}: {CANNOT_PLAY}"
        try:
            sd._initialize()  # our own reference: see the module docstring
            self._held = True
            if not self._has_output(sd):
                # PortAudio lists the devices only when it starts: look again once (nothing plays without one)
                refs = sd._initialized  # the import's, ours (and any other holder's): all given back and taken again
                for _ in range(refs):
                    sd._terminate()
                for _ in range(refs):
                    sd._initialize()
                if not self._has_output(sd):
                    self._release()
                    self.ring = None
                    return NO_DEVICE
            self.device = str(sd.query_devices(kind="output")["name"])
            stream = sd.OutputStream(samplerate=ring.rate, channels=ring.channels, dtype="int16",
                                     blocksize=BLOCK_FRAMES, callback=self.callback)  # fmt: skip
            stream.start()
            self._stream = stream
        except Exception as e:
            self._release()
            self.ring = None
            log.warning("live audio: cannot open the output: %s", e)
            return f"Live audio cannot use the audio output ({e}): {CANNOT_PLAY}"
        log.info("live audio plays on %s (output latency %.0f ms)", self.device, 1000 * float(stream.latency))
        return ""

    def _has_output(self, sd) -> bool:
        return any(d["max_output_channels"] > 0 for d in sd.query_devices())

    def _load(self):
        if self._sd is None and not self._missing:
            try:
                import sounddevice  # loads libportaudio and starts PortAudio

                self._sd = sounddevice
            except OSError as e:
                self._missing = f"PortAudio not found ({e}; Debian package libportaudio2)"
            except ImportError as e:
                self._missing = f"Python package sounddevice not installed ({e})"
            except Exception as e:
                self._missing = f"PortAudio failed to start ({type(e).__name__}: {e})"
        return self._sd

    def _close(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.stop()
                stream.close()
            except Exception as e:
                log.warning("live audio: closing the output failed: %s", e)
        self._release()

    def _release(self) -> None:
        if self._held and self._sd is not None:
            self._held = False
            try:
                self._sd._terminate()
            except Exception:
                log.debug("live audio: PortAudio terminate failed", exc_info=True)


class LiveAudio(QObject):
    """The focused camera's sound, for one wall view (the main window's). GUI thread only."""

    def __init__(self, supervisor, wall, parent: QObject) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self.wall = wall
        self.camera_id = ""
        self.muted = True
        self.tap: AudioTap | None = None
        self.pipeline = None
        self.output_words = ""  # from the worker: why the sound cannot be played ('' = fine)
        self.player = LivePlayer()
        self.tasks = TaskRunner(parent=self, name="audio:live", daemon=True)
        self.strip = AudioStrip(wall.focus_tile)
        self.strip.button.clicked.connect(self.toggle_mute)
        self._pending = 0  # reconcile jobs given to the worker and not yet done
        self._handed: PcmRing | None = None  # what the last reconcile job was told to play
        self._closed = False
        wall.focus_changed.connect(self.on_focus_changed)

    # ------------------------------------------------------------------ API
    @property
    def words(self) -> str:
        """What the strip says: the stream's audio first (no audio, codec), then the output's."""
        if self.tap is not None and self.tap.words and self.tap.words != WAITING:
            return sentence(self.tap.words)
        if not self.muted:
            return self.output_words
        return ""

    @property
    def can_listen(self) -> bool:
        return self.tap is not None and self.tap.words != NO_AUDIO and not self.tap.words.startswith("audio codec")

    def toggle_mute(self) -> None:
        """M while focused, or the strip's button."""
        if not self.camera_id or not self.can_listen:
            return  # no camera shown large, or nothing to listen to (the strip says why)
        self.set_muted(not self.muted)

    def set_muted(self, muted: bool) -> None:
        self.muted = muted
        if muted:
            self.output_words = ""
        self._reconcile()
        self.refresh()

    def on_focus_changed(self, camera_id: str) -> None:
        self._detach()
        self.muted = True  # every focus starts with the sound off (module docstring)
        self.output_words = ""
        if camera_id:
            self._attach(camera_id)
        self._reconcile()
        self.refresh()

    def refresh(self) -> None:
        """At the health rate (2 Hz) and after each change: the meter, the words, a replaced pipeline."""
        if self.camera_id and self._current_pipeline() is not self.pipeline:
            cid = self.camera_id  # the camera's pipeline was restarted (config edit, main stream opened)
            self._detach()
            self._attach(cid)
            self._reconcile()
        if self._wanted() is not self._handed:
            self._reconcile()  # e.g. the stream turned out to have no audio while the sound was on
        if self.tap is None:
            self.strip.hide()
            return
        level = self.tap.level_dbfs()
        self.strip.show_state(self.muted, self.can_listen, level, self.words)
        if not self.strip.isVisible():
            self.strip.show()
            self.strip.place()

    def shutdown(self, wait_s: float = 1.0) -> None:
        """Release the device and stop the tap (bounded: a hung sound server is left to its daemon thread)."""
        if self._closed:
            return
        self._closed = True
        tap = self.tap
        self._detach()
        player = self.player
        try:
            self.tasks.run(lambda: player.reconcile(None), None)
        except RuntimeError:
            pass
        self.tasks.shutdown(wait=True, timeout_s=wait_s)
        if tap is not None:
            tap.close(0)

    # ------------------------------------------------------------------ internals
    def _current_pipeline(self):
        cid = self.camera_id
        return self.supervisor.pipeline(cid, MAIN) or self.supervisor.pipeline(cid, TILE)

    def _attach(self, camera_id: str) -> None:
        self.camera_id = camera_id
        p = self._current_pipeline()
        self.pipeline = p
        if p is None:  # a status tile, or a camera that is not running
            return
        self.tap = AudioTap(camera_id).start()
        p.add_packet_sink(self.tap)

    def _detach(self) -> None:
        tap, p = self.tap, self.pipeline
        self.tap = self.pipeline = None
        self.camera_id = ""
        if p is not None and tap is not None:
            p.remove_packet_sink(tap)
        if tap is not None:
            tap.close(0)  # stops at once; the worker joins its thread (never the GUI thread)
            if not self._closed:
                self.tasks.run(lambda: tap.close(1.0), None)

    def _reconcile(self) -> None:
        """Hand the worker what should sound now; it opens or closes the stream to match."""
        if self._closed:
            return
        ring = self._handed = self._wanted()
        player = self.player
        self._pending += 1
        self.tasks.run(lambda: player.reconcile(ring), self._reconciled)

    def _wanted(self) -> PcmRing | None:
        return self.tap.ring if self.tap is not None and not self.muted and self.can_listen else None

    def _reconciled(self, words: str) -> None:
        self._pending -= 1
        if not self.muted:
            self.output_words = words
        self.refresh()

    @property
    def settled(self) -> bool:
        """No reconcile job is under way (tests)."""
        return self._pending == 0
