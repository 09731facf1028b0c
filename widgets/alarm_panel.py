"""The alarm panel: open alarms by severity, acknowledge / shelve / close, blinking tile borders, sound, tray.

Alarm states after ISA-18.2 (docs/alerts.md): the list holds every alarm that is not both acknowledged
and cleared, with its state in words ("active, unacknowledged", "active, acknowledged by Dewi", "cleared,
unacknowledged", "shelved until 14:30 by Dewi"). A view filter shows all, those needing attention, the
shelved ones or the stale ones (active for more than a day). From an alarm the operator can show its
camera on the wall (double-click or "Show camera").

Threading: the engine calls subscribers on its own thread (or the operator's, for acknowledge/resolve);
the panel's subscriber only hands each event to the GUI thread through the panel's
:class:`~widgets.tasks.TaskRunner` (``call_on_gui``: always queued, dropped once the panel is shut down
or deleted, so an engine that outlives the window never emits into a deleted object). Operator actions
call the engine directly (it takes its lock for microseconds; persistence is an enqueue). Nothing here
touches the database.

Sound (:class:`AlarmSound`): ``resources/sounds/alarm.wav`` played in-process through PortAudio (the
``sounddevice`` package; QtMultimedia is in the 175 MB PySide6-Addons wheel, docs/alerts.md), repeated every
``REPEAT_S`` while any alert needs attention, stopped by mute or acknowledgement. When it cannot be heard the
window's status bar says why in words (``status_words``).

Operator: acknowledgements and shelves are signed with ``AlarmPanel.who``: the OS account's full name at
start (:func:`operator_name`), changed with Alarms > Change operator… (kept in memory only, until operators
sign in with accounts).
"""

from __future__ import annotations

import getpass
import html
import logging
import pwd
import queue
import shutil
import subprocess
import threading
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
    QInputDialog,
    QLabel,
    QLineEdit,
    QMenu,
    QPushButton,
    QSystemTrayIcon,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.alerts import Alert, AlertError, AlertEvent, Severity
from app.paths import resource
from widgets.tasks import TaskRunner

log = logging.getLogger(__name__)

SEVERITY_COLORS = {Severity.CRITICAL: "#ff3b30", Severity.MAJOR: "#ff9500", Severity.MINOR: "#ffcc00",
                   Severity.WARNING: "#5ac8fa"}  # fmt: skip
BLINK_MS = 500
REPEAT_S = 5.0
RECHECK_S = 180.0  # look for an audio output device again (plugged in, or a sound server started, later)
STALE_AFTER_S = 24 * 3600.0  # an alarm active this long is "stale" (ISA-18.2): a problem nobody fixes
SHELVE_CHOICES_MIN = (15, 60, 8 * 60)
VIEWS = ("All open alarms", "Needing attention", "Shelved", "Stale (active over a day)")


def operator_name() -> str:
    """Who signs acknowledgements until operators sign in: the OS account's full name (the GECOS field),
    else its login name."""
    try:
        login = getpass.getuser()
    except Exception:
        return "operator"
    try:
        full = pwd.getpwnam(login).pw_gecos.split(",")[0].strip()
    except (KeyError, OSError):
        full = ""
    return full or login


def state_words(a: Alert, now: float) -> str:
    """The alarm's state as the operator reads it in the list."""
    words = a.status.words
    if a.acknowledged_by and not a.unacknowledged:
        words += f" by {a.acknowledged_by}"
    if a.shelved_until is not None:
        words += f" · shelved until {time.strftime('%H:%M', time.localtime(a.shelved_until))} by {a.shelved_by}"
    if a.is_stale(now, STALE_AFTER_S):
        words += f" · stale ({_duration(now - a.started_at)})"
    return words


def banner_text(critical: list[Alert]) -> str:
    """The attention banner for the unacknowledged CRITICAL alarms ('' when there is none): the oldest one in
    words, how many more, and how to acknowledge."""
    if not critical:
        return ""
    a = min(critical, key=lambda x: x.started_at)
    since = time.strftime("%H:%M:%S", time.localtime(a.started_at))
    state = "" if a.condition_active else " (cleared, not yet acknowledged)"
    more = f"  ·  +{len(critical) - 1} more" if len(critical) > 1 else ""
    return f"CRITICAL  {a.summary}{state}  ·  since {since}{more}  ·  acknowledge: Ctrl+Shift+A"


def _duration(s: float) -> str:
    d, rest = divmod(int(s), 86_400)
    return f"{d} d {rest // 3600} h" if d else f"{rest // 3600} h {rest % 3600 // 60} min"


NOT_HEARD = "alarms are shown but not heard"
PLAYERS = ("paplay", "pw-play", "aplay")  # used only when PortAudio cannot be loaded


def read_wav(path: str | Path) -> tuple[np.ndarray, int]:
    """A PCM WAV file as float32 samples in [-1, 1), shape (frames, channels), and its sample rate.

    8-bit (unsigned), 16-, 24- and 32-bit (signed) PCM; anything else is ``wave.Error`` / ``ValueError``."""
    with wave.open(str(path), "rb") as w:
        channels, width, rate = w.getnchannels(), w.getsampwidth(), w.getframerate()
        raw = w.readframes(w.getnframes())
    if width == 1:
        samples = (np.frombuffer(raw, np.uint8).astype(np.float32) - 128.0) / 128.0
    elif width == 2:
        samples = np.frombuffer(raw, "<i2").astype(np.float32) / 32768.0
    elif width == 3:  # little-endian 24-bit: widen to 32 bits (the low byte zero) keeps the sign
        b = np.frombuffer(raw, np.uint8).reshape(-1, 3).astype(np.int32)
        samples = ((b[:, 0] << 8) | (b[:, 1] << 16) | (b[:, 2] << 24)).astype(np.float32) / 2.0**31
    elif width == 4:
        samples = np.frombuffer(raw, "<i4").astype(np.float32) / 2.0**31
    else:
        raise ValueError(f"{width * 8}-bit samples are not supported")
    return samples.reshape(-1, channels), rate


class AlarmSound:
    """The alarm sound: plays the WAV while an alarm needs attention, repeated every ``REPEAT_S``, until muted
    or acknowledged. ``played`` counts plays; ``status_words`` says in words why alarms would not be heard
    ('' when they are).

    Routes, decided on the worker thread at start and at every re-check (``recheck_s``, and ``recheck()``):

    * **PortAudio** (the ``sounddevice`` package over Debian's ``libportaudio2``): the WAV decoded once
      (``read_wav``) and played in-process on the default output device. Before each check PortAudio is
      re-initialised, because it lists devices only when it starts: a USB speaker plugged in, or a sound
      server started after Vigil, is found at the next check (and one that went away is said).
    * **An external player** (``paplay``/``pw-play``/``aplay``) when PortAudio cannot be loaded (no
      ``libportaudio2``: OSError at import); a player that exits non-zero is said in words.
    * **None**: ``QApplication.beep()`` as a last resort (often silent), and the words say alarms are not heard.

    Threading: ``tick``/``stop``/``recheck`` only post a message (never block the GUI thread). The worker
    ``audio:alarm`` does every PortAudio call (device scan, stream open/close: a hung sound server must not
    freeze the window); PortAudio's own thread runs the callback that copies samples out of the buffer.
    ``status_words`` is one string replaced whole by the worker and read by the GUI.

    Each PortAudio start (0.07 s at import, 0.035 s per re-check on the 2-core machine) runs with fd 2 sent to
    /dev/null by ``sounddevice`` (ALSA prints its probing of absent cards there): a line another thread writes
    to stderr in that moment is lost from the terminal, never from the log file.
    """

    def __init__(self, enabled: bool = True, wav: str | None = None, recheck_s: float = RECHECK_S) -> None:
        self.enabled = enabled
        self.muted = False
        self.wav = wav or str(resource("sounds/alarm.wav"))
        self.recheck_s = recheck_s
        self.player = next((p for p in PLAYERS if shutil.which(p)), None)  # the fallback, if PortAudio is missing
        self.played = 0
        self.checked = threading.Event()  # set once the first device check has finished (tests, start-up)
        self.route = ""  # "portaudio", a player's name, "beep"; "" until the first check
        self.device = ""  # the output device PortAudio plays on
        self._words = ""
        self._last: float | None = None
        self._sounding = False  # GUI side: a play was posted since the last stop
        self._jobs: queue.SimpleQueue = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        # worker side only
        self._sd = None
        self._sd_missing = ""
        self._samples: np.ndarray | None = None
        self._rate = 0
        self._stream = None
        self._stream_done = threading.Event()
        self._proc: subprocess.Popen | None = None
        if enabled:
            self._start_worker()

    # ------------------------------------------------------------------ GUI side
    @property
    def status_words(self) -> str:
        if not self.enabled:
            return "Alarm sound off (alerts.sound)"
        if self.muted:
            return f"Alarm sound muted: {NOT_HEARD}"
        return self._words

    @property
    def playing(self) -> bool:
        """A play is sounding now (PortAudio stream or player process)."""
        stream, proc = self._stream, self._proc
        return (stream is not None and not self._stream_done.is_set()) or (proc is not None and proc.poll() is None)

    def tick(self, alarming: bool, now: float | None = None) -> bool:
        """Called by the panel's timer: play if alarming, not muted, and REPEAT_S since the last play; when
        nothing needs attention any more (acknowledged, muted, switched off) a sound still playing stops."""
        now = time.monotonic() if now is None else now
        if not (alarming and self.enabled and not self.muted):
            if self._sounding:
                self.stop()
            return False
        if self._last is not None and now - self._last < REPEAT_S:
            return False
        self._last = now
        self.played += 1
        self._start_worker()
        if self.route == "beep":
            QApplication.beep()  # the last resort; status_words says alarms are not heard
        else:
            self._sounding = True
            self._jobs.put(_PLAY)
        return True

    def stop(self) -> None:
        """Silence a play now (mute, acknowledge)."""
        self._sounding = False
        if self._thread is not None:
            self._jobs.put(_STOP)

    def recheck(self) -> None:
        """Look for an output device now (as the worker does every ``recheck_s``)."""
        self._start_worker()
        self._jobs.put(_CHECK)

    def close(self, wait_s: float = 0.0) -> None:
        """Stop playing and end the worker (waiting up to *wait_s* for it)."""
        self._sounding = False
        thread, self._thread = self._thread, None
        if thread is not None:
            self._jobs.put(_CLOSE)
            if wait_s:
                thread.join(wait_s)

    def _start_worker(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="audio:alarm", daemon=True)
            self._thread.start()

    # ------------------------------------------------------------------ worker thread
    def _run(self) -> None:
        try:
            self._check(rescan=False)
        finally:
            self.checked.set()
        next_check = time.monotonic() + self.recheck_s
        while True:
            wait = max(0.0, next_check - time.monotonic())
            if self._proc is not None:
                wait = min(wait, 0.5)  # notice a player that failed
            try:
                job = self._jobs.get(timeout=wait)
            except queue.Empty:
                job = _CHECK if time.monotonic() >= next_check else None
            self._reap_player()
            if job is _PLAY:
                self._play()
            elif job is _STOP:
                self._silence()
            elif job is _CHECK:
                if self.playing:  # never re-initialise PortAudio under a playing stream: try again soon
                    next_check = time.monotonic() + 1.0
                else:
                    self._check(rescan=True)
                    next_check = time.monotonic() + self.recheck_s
            elif job is _CLOSE:
                self._silence()
                return
            elif isinstance(job, threading.Event) and job is self._stream_done:  # that play has ended
                self._close_stream()  # release the device between plays

    def _say(self, words: str) -> None:
        if words != self._words:
            (log.warning if words else log.info)("alarm sound: %s", words or f"plays on {self.device or self.route}")
        self._words = words

    def _check(self, rescan: bool) -> None:
        """Choose the route and say whether alarms can be heard."""
        if self._samples is None:
            try:
                self._samples, self._rate = read_wav(self.wav)
            except (OSError, EOFError, ValueError, wave.Error) as e:
                self.route = "beep"
                self._say(f"Alarm sound file {self.wav} cannot be read ({e}): {NOT_HEARD}")
                return
        if self._sd is None and not self._sd_missing:
            try:
                import sounddevice  # loads libportaudio and initialises PortAudio (scans the devices)

                self._sd = sounddevice
            except OSError as e:  # no libportaudio2 on this machine
                self._sd_missing = f"PortAudio not found ({e}; Debian package libportaudio2)"
            except ImportError as e:
                self._sd_missing = f"Python package sounddevice not installed ({e})"
            except Exception as e:  # PortAudio failed to initialise
                self._sd_missing = f"PortAudio failed to start ({type(e).__name__}: {e})"
            rescan = False
        if self._sd is None:
            self.route = self.player or "beep"
            tail = f"alarms play through {self.player}" if self.player else f"no {'/'.join(PLAYERS)}: {NOT_HEARD}"
            self._say(f"Sound library missing: {self._sd_missing}; {tail}")
            return
        sd = self._sd
        try:
            if rescan:
                self._close_stream()
                if sd._initialized:  # PortAudio lists the devices only when it starts: start it again
                    sd._terminate()
                sd._initialize()
            if not any(d["max_output_channels"] > 0 for d in sd.query_devices()):
                self.route, self.device = "beep", ""
                self._say(f"No audio output device: {NOT_HEARD}")
                return
            dev = sd.query_devices(kind="output")  # PortAudioError when none is the default
            sd.check_output_settings(samplerate=self._rate, channels=self._samples.shape[1], dtype="float32")
        except Exception as e:
            self.route, self.device = "beep", ""
            self._say(f"Alarm sound cannot use the audio output ({e}): {NOT_HEARD}")
            return
        self.route, self.device = "portaudio", str(dev["name"])
        self._say("")

    def _play(self) -> None:
        if self.playing:
            return  # still sounding from the last tick: no overlap
        if self.route == "portaudio":
            self._play_portaudio()
        elif self.route in PLAYERS:
            args = [self.route, "-q", self.wav] if self.route == "aplay" else [self.route, self.wav]
            try:
                self._proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                              stderr=subprocess.DEVNULL, start_new_session=True)  # fmt: skip
            except OSError as e:
                self.route = "beep"
                self._say(f"Sound library missing: {self._sd_missing}; {args[0]} cannot run ({e}): {NOT_HEARD}")

    def _play_portaudio(self) -> None:
        sd, samples = self._sd, self._samples
        self._close_stream()
        pos = 0

        def fill(out, frames, _time, _status) -> None:  # PortAudio's thread
            nonlocal pos
            chunk = samples[pos : pos + frames]
            out[: len(chunk)] = chunk
            pos += len(chunk)
            if len(chunk) < frames:
                out[len(chunk) :] = 0
                raise sd.CallbackStop  # plays out what is buffered, then the stream finishes

        done = threading.Event()

        def finished() -> None:  # PortAudio's thread: played out, or aborted by _close_stream
            done.set()
            self._jobs.put(done)

        try:
            stream = sd.OutputStream(samplerate=self._rate, channels=samples.shape[1], dtype="float32",
                                     callback=fill, finished_callback=finished)  # fmt: skip
            self._stream_done, self._stream = done, stream
            stream.start()
        except Exception as e:  # the device went away since the last check
            self._close_stream()
            self.route = "beep"
            self._say(f"Alarm sound failed on {self.device} ({e}): {NOT_HEARD}")
            self._jobs.put(_CHECK)  # look again now: another device may be there

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            try:
                stream.abort()
                stream.close()
            except Exception as e:
                log.debug("closing the alarm stream: %s", e)
            self._stream_done.set()

    def _silence(self) -> None:
        self._close_stream()
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()

    def _reap_player(self) -> None:
        proc = self._proc
        if proc is None or proc.poll() is None:
            return
        self._proc = None
        if proc.returncode > 0:  # killed by our terminate() is < 0: that was a stop
            self._say(f"Sound library missing: {self._sd_missing}; {proc.args[0]} failed (exit {proc.returncode}): "
                      f"{NOT_HEARD}")  # fmt: skip
        elif proc.returncode == 0 and self.route in PLAYERS:
            self._say(f"Sound library missing: {self._sd_missing}; alarms play through {proc.args[0]}")


_PLAY, _STOP, _CHECK, _CLOSE = (object() for _ in range(4))


class AlarmPanel(QWidget):
    """The "Alarms" dock. *tiles* returns the wall's tile widgets (each has camera_id, set_alarm_border)."""

    def __init__(self, engine, tiles: Callable[[], list] | None = None, sound: AlarmSound | None = None,
                 tray: QSystemTrayIcon | None = None, who: str | None = None,
                 show_camera: Callable[[str], None] | None = None, parent: QWidget | None = None,
                 clock: Callable[[], float] = time.time,
                 on_attention: Callable[[str, list[Alert], set[str]], None] | None = None,
                 on_sound_status: Callable[[str], None] | None = None,
                 on_operator: Callable[[str], None] | None = None) -> None:  # fmt: skip
        """*on_attention(banner_text, critical_alarms, alarming_camera_ids)* runs after every change: the
        window shows the banner on every wall view, turns the tour and counts alarms on other pages.
        *on_sound_status(words)* runs at start and whenever the sound's ``status_words`` change ('' = heard);
        *on_operator(name)* at start and whenever the operator changes."""
        super().__init__(parent)
        self.engine = engine
        self.tiles = tiles or (lambda: [])
        self.sound = sound or AlarmSound(engine.settings.sound)
        self.tray = tray
        self.who = who or operator_name()
        self.show_camera = show_camera
        self.on_attention = on_attention
        self.on_sound_status = on_sound_status
        self.on_operator = on_operator
        self.operator_dialog: QInputDialog | None = None
        self._sound_words: str | None = None
        self._clock = clock
        self.blink_on = False
        self._tasks = TaskRunner(parent=self, name="ui:alarms")  # hands engine events over; starts no thread
        tasks, on_event = self._tasks, self._on_event
        engine.subscribe(lambda event: tasks.call_on_gui(on_event, event))

        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Severity", "Camera", "Alarm", "Raised", "State"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.tree.itemDoubleClicked.connect(lambda item, _col: self._show(item.data(0, Qt.ItemDataRole.UserRole)))
        self.view = QComboBox(self)
        self.view.addItems(VIEWS)
        self.view.currentIndexChanged.connect(lambda _i: self.refresh())
        self.note = QLineEdit(self)
        self.note.setPlaceholderText("note (optional)")
        self.ack_button = QPushButton("Acknowledge", self)
        self.shelve_button = QPushButton("Shelve 1 h", self)
        self.shelve_button.setToolTip("Silence the selected alarms for an hour (with the note as the reason)")
        self.resolve_button = QPushButton("Close", self)
        self.resolve_button.setToolTip("Close the selected alarms by hand (e.g. a camera taken out of service)")
        self.mute_button = QPushButton("Mute", self)
        self.mute_button.setCheckable(True)
        self.summary = QLabel(self)
        self.ack_button.clicked.connect(lambda: self.acknowledge_selected())
        self.shelve_button.clicked.connect(lambda: self.shelve_selected(60))
        self.resolve_button.clicked.connect(lambda: self.resolve_selected())
        self.mute_button.toggled.connect(self.set_muted)
        buttons = QHBoxLayout()
        for w in (self.ack_button, self.shelve_button, self.resolve_button, self.mute_button):
            buttons.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
        lay.addWidget(self.view)
        lay.addWidget(self.tree, 1)
        lay.addWidget(self.note)
        lay.addLayout(buttons)

        self.blink_timer = QTimer(self)
        self.blink_timer.timeout.connect(self._blink)
        self.blink_timer.start(BLINK_MS)
        self.refresh()
        if on_operator is not None:
            on_operator(self.who)
        self._report_sound()

    # ------------------------------------------------------------------ model -> view
    def alerts(self) -> tuple[Alert, ...]:
        return self.engine.active()

    def unacknowledged(self) -> list[Alert]:
        return [a for a in self.alerts() if a.needs_attention]

    def shown(self, now: float) -> list[Alert]:
        """The open alarms the chosen view shows."""
        view = self.view.currentIndex()
        alerts = self.alerts()
        if view == 1:
            return [a for a in alerts if a.needs_attention]
        if view == 2:
            return [a for a in alerts if a.shelved]
        if view == 3:
            return [a for a in alerts if a.is_stale(now, STALE_AFTER_S)]
        return list(alerts)

    def refresh(self) -> None:
        selected = set(self.selected_ids())
        self.tree.clear()
        now = self._clock()
        for a in self.shown(now):
            since = time.strftime("%H:%M:%S", time.localtime(a.started_at))
            item = QTreeWidgetItem([a.severity.value, a.name or a.camera_id, a.summary, since, state_words(a, now)])
            item.setData(0, Qt.ItemDataRole.UserRole, a.id)
            item.setForeground(0, QColor(SEVERITY_COLORS[a.severity]))
            if a.needs_attention:
                f = item.font(2)
                f.setBold(True)
                item.setFont(2, f)
            self.tree.addTopLevelItem(item)
            item.setSelected(a.id in selected)
        n, u = len(self.alerts()), len(self.unacknowledged())
        shelved = sum(1 for a in self.alerts() if a.shelved)
        text = f"{n} open alarm{'s' * (n != 1)}, {u} unacknowledged" if n else "No open alarms"
        self.summary.setText(text + (f", {shelved} shelved" if shelved else ""))
        self._apply_borders()
        if self.on_attention is not None:
            critical = [a for a in self.unacknowledged() if a.severity is Severity.CRITICAL]
            self.on_attention(banner_text(critical), critical, set(self.border_colors()))

    def _on_event(self, event: AlertEvent) -> None:
        self.refresh()
        if event.kind == "fired" and event.alert.needs_attention:  # a shelved alarm coming back stays quiet
            self.sound.tick(True)
            if self.tray is not None and self.tray.isVisible():
                a = event.alert
                icon = QSystemTrayIcon.MessageIcon.Critical if a.severity in (Severity.CRITICAL, Severity.MAJOR) \
                    else QSystemTrayIcon.MessageIcon.Warning  # fmt: skip
                # notification servers may read the body as markup: a device's words are shown, never rendered
                self.tray.showMessage(f"{a.severity.value}: {a.alertname}", html.escape(a.summary), icon, 10_000)

    # ------------------------------------------------------------------ blinking + sound
    def border_colors(self) -> dict[str, str]:
        """Camera id -> colour of its most severe unacknowledged alert."""
        out: dict[str, str] = {}
        for a in sorted(self.unacknowledged(), key=lambda a: a.severity.rank, reverse=True):
            if a.camera_id:
                out[a.camera_id] = SEVERITY_COLORS[a.severity]
        return out

    def _apply_borders(self) -> None:
        colors = self.border_colors()
        for t in self.tiles():
            c = colors.get(getattr(t, "camera_id", ""))
            t.set_alarm_border(c if c and self.blink_on else None)

    def _blink(self) -> None:
        self.blink_on = not self.blink_on
        self._apply_borders()
        self.sound.tick(bool(self.unacknowledged()))
        self._report_sound()

    def _report_sound(self) -> None:
        """The sound's words to the window when they changed (polled with the blink: the worker sets them)."""
        words = self.sound.status_words
        if words != self._sound_words:
            self._sound_words = words
            if self.on_sound_status is not None:
                self.on_sound_status(words)

    def set_muted(self, muted: bool) -> None:
        self.sound.muted = bool(muted)
        if muted:
            self.sound.stop()
        self.mute_button.setText("Unmute" if muted else "Mute")
        self._report_sound()

    # ------------------------------------------------------------------ operator
    def set_operator(self, name: str) -> bool:
        """Sign the next acknowledgements and shelves with *name* (blank: refused, the operator stays)."""
        name = " ".join(name.split())
        if not name:
            return False
        self.who = name
        if self.on_operator is not None:
            self.on_operator(name)
        return True

    def ask_operator(self, parent: QWidget | None = None) -> QInputDialog:
        """Alarms > Change operator…: a name box (non-blocking, ``open()``); OK sets the operator."""
        if self.operator_dialog is not None and self.operator_dialog.isVisible():
            self.operator_dialog.raise_()
            return self.operator_dialog
        dlg = QInputDialog(parent or self)
        dlg.setWindowTitle("Change operator")
        dlg.setLabelText("Acknowledge and shelve alarms as:")
        dlg.setTextValue(self.who)
        dlg.textValueSelected.connect(self.set_operator)
        dlg.open()
        self.operator_dialog = dlg
        return dlg

    # ------------------------------------------------------------------ operator actions
    def selected_ids(self) -> list[str]:
        return [i.data(0, Qt.ItemDataRole.UserRole) for i in self.tree.selectedItems()]

    def select_alert(self, alert_id: str) -> None:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            item.setSelected(item.data(0, Qt.ItemDataRole.UserRole) == alert_id)

    def _act(self, fn, ids: list[str] | None, note: str | None) -> int:
        ids = self.selected_ids() if ids is None else ids
        note = self.note.text().strip() if note is None else note
        done = 0
        for aid in ids:
            try:
                fn(aid, self.who, note)
                done += 1
            except AlertError as e:
                log.info("%s", e)
        if done:
            self.note.clear()
        self.refresh()
        self.sound.tick(bool(self.unacknowledged()))  # the last one acknowledged: silence now, not at the next blink
        return done

    def acknowledge_selected(self, ids: list[str] | None = None, note: str | None = None) -> int:
        return self._act(self.engine.acknowledge, ids, note)

    def resolve_selected(self, ids: list[str] | None = None, note: str | None = None) -> int:
        return self._act(self.engine.resolve, ids, note)

    def shelve_selected(self, minutes: float, ids: list[str] | None = None, note: str | None = None) -> int:
        return self._act(lambda aid, who, why: self.engine.shelve(aid, minutes, who, why), ids, note)

    def unshelve_selected(self, ids: list[str] | None = None) -> int:
        return self._act(lambda aid, who, _note: self.engine.unshelve(aid, who), ids, "")

    def _show(self, alert_id: str | None) -> None:
        a = next((x for x in self.alerts() if x.id == alert_id), None)
        if a is not None and a.camera_id and self.show_camera is not None:
            self.show_camera(a.camera_id)

    def _tree_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction("Acknowledge", lambda: self.acknowledge_selected())
        shelve = menu.addMenu("Shelve")
        for m in SHELVE_CHOICES_MIN:
            shelve.addAction(f"for {m // 60} h" if m >= 60 else f"for {m} min", lambda m=m: self.shelve_selected(m))
        menu.addAction("Unshelve", lambda: self.unshelve_selected())
        ids = self.selected_ids()
        if self.show_camera is not None and len(ids) == 1:
            menu.addAction("Show camera", lambda: self._show(ids[0]))
        menu.addSeparator()
        menu.addAction("Close by hand", lambda: self.resolve_selected())
        menu.exec(self.tree.viewport().mapToGlobal(pos))

    def add_tile_actions(self, menu: QMenu, camera_id: str) -> None:
        """Tile context-menu hook: acknowledge / resolve this camera's alerts."""
        mine = [a for a in self.alerts() if a.camera_id == camera_id]
        if not mine:
            return
        menu.addSeparator()
        unacked = [a.id for a in mine if a.needs_attention]
        if unacked:
            menu.addAction(f"Acknowledge {len(unacked)} alert(s)", lambda: self.acknowledge_selected(unacked, ""))
        menu.addAction(f"Close {len(mine)} alarm(s) by hand", lambda: self.resolve_selected([a.id for a in mine], ""))

    def shutdown(self) -> None:
        self._tasks.shutdown()  # no more events: a late "fired" must not start the sound again
        self.blink_timer.stop()
        self.sound.close()
        for t in self.tiles():
            t.set_alarm_border(None)


def install_alarm_ui(window, runtime) -> AlarmPanel | None:
    """Alarms dock, tile context-menu actions, tray icon. None when no alert engine is installed."""
    engine = runtime.alerts
    if engine is None:
        return None
    tray = None
    if QSystemTrayIcon.isSystemTrayAvailable():
        icon = QIcon(str(resource("vigil.png"))) if resource("vigil.png").exists() else window.windowIcon()
        tray = QSystemTrayIcon(icon, window)
        tray.setToolTip("Vigil alarms")
        tray.show()
    panel = AlarmPanel(engine, lambda: list(window.wall.tiles), tray=tray, show_camera=window.wall.focus_camera,
                       on_attention=window.set_alarm_attention, on_sound_status=window.set_alarm_sound_status,
                       on_operator=window.set_operator)  # fmt: skip
    window.add_dock("Alarms", panel, "right")
    window.tile_context_menu_hooks.append(panel.add_tile_actions)
    window.add_menu_action("&Alarms", "Acknowledge all", lambda: panel.acknowledge_selected(
        [a.id for a in panel.unacknowledged()], ""), shortcut="Ctrl+Shift+A")  # fmt: skip
    mute = window.add_menu_action("&Alarms", "Mute alarm sound", lambda: None)
    mute.setCheckable(True)
    mute.toggled.connect(panel.mute_button.setChecked)
    window.add_menu_action("&Alarms", "Change operator…", lambda: panel.ask_operator(window))
    window.destroyed.connect(lambda *_: panel.shutdown())
    return panel
