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

Sound: PySide6-Essentials has no QtMultimedia, so the alarm plays ``resources/sounds/alarm.wav`` through
the first of ``paplay``/``pw-play``/``aplay`` found (a detached process, never waited on), else
``QApplication.beep()``. It repeats every ``REPEAT_S`` while any alert is unacknowledged, until muted.
"""

from __future__ import annotations

import getpass
import logging
import pwd
import shutil
import subprocess
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QApplication,
    QComboBox,
    QHBoxLayout,
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


class AlarmSound:
    """Repeating alarm until acknowledged; mutable. ``played`` counts plays (tests, status)."""

    def __init__(self, enabled: bool = True, wav: str | None = None) -> None:
        self.enabled = enabled
        self.muted = False
        self.wav = wav or str(resource("sounds/alarm.wav"))
        self.player = next((p for p in ("paplay", "pw-play", "aplay") if shutil.which(p)), None)
        self._proc: subprocess.Popen | None = None
        self._last = 0.0
        self.played = 0

    def tick(self, alarming: bool, now: float | None = None) -> bool:
        """Called by the panel's timer: play if alarming, not muted, and REPEAT_S since the last play."""
        now = time.monotonic() if now is None else now
        if not (alarming and self.enabled and not self.muted) or now - self._last < REPEAT_S:
            return False
        self._last = now
        self.played += 1
        if self.player and (self._proc is None or self._proc.poll() is not None):
            try:
                args = [self.player, "-q", self.wav] if self.player == "aplay" else [self.player, self.wav]
                self._proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                return True
            except OSError:
                self.player = None
        QApplication.beep()
        return True

    def stop(self) -> None:
        if self._proc is not None and self._proc.poll() is None:
            self._proc.terminate()


class AlarmPanel(QWidget):
    """The "Alarms" dock. *tiles* returns the wall's tile widgets (each has camera_id, set_alarm_border)."""

    def __init__(self, engine, tiles: Callable[[], list] | None = None, sound: AlarmSound | None = None,
                 tray: QSystemTrayIcon | None = None, who: str | None = None,
                 show_camera: Callable[[str], None] | None = None, parent: QWidget | None = None,
                 clock: Callable[[], float] = time.time,
                 on_attention: Callable[[str, list[Alert], set[str]], None] | None = None) -> None:  # fmt: skip
        """*on_attention(banner_text, critical_alarms, alarming_camera_ids)* runs after every change: the
        window shows the banner on every wall view, turns the tour and counts alarms on other pages."""
        super().__init__(parent)
        self.engine = engine
        self.tiles = tiles or (lambda: [])
        self.sound = sound or AlarmSound(engine.settings.sound)
        self.tray = tray
        self.who = who or operator_name()
        self.show_camera = show_camera
        self.on_attention = on_attention
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
        if event.kind == "fired":
            self.sound.tick(True)
            if self.tray is not None and self.tray.isVisible():
                a = event.alert
                icon = QSystemTrayIcon.MessageIcon.Critical if a.severity in (Severity.CRITICAL, Severity.MAJOR) \
                    else QSystemTrayIcon.MessageIcon.Warning  # fmt: skip
                self.tray.showMessage(f"{a.severity.value}: {a.alertname}", a.summary, icon, 10_000)

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

    def set_muted(self, muted: bool) -> None:
        self.sound.muted = bool(muted)
        if muted:
            self.sound.stop()
        self.mute_button.setText("Unmute" if muted else "Mute")

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
        self.sound.stop()
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
                       on_attention=window.set_alarm_attention)  # fmt: skip
    window.add_dock("Alarms", panel, "right")
    window.tile_context_menu_hooks.append(panel.add_tile_actions)
    window.add_menu_action("&Alarms", "Acknowledge all", lambda: panel.acknowledge_selected(
        [a.id for a in panel.unacknowledged()], ""), shortcut="Ctrl+Shift+A")  # fmt: skip
    mute = window.add_menu_action("&Alarms", "Mute alarm sound", lambda: None)
    mute.setCheckable(True)
    mute.toggled.connect(panel.mute_button.setChecked)
    window.destroyed.connect(lambda *_: panel.shutdown())
    return panel
