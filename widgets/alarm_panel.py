"""The alarm panel: open alerts by severity, acknowledge / resolve, blinking tile borders, sound, tray.

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
import shutil
import subprocess
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer
from PySide6.QtGui import QColor, QIcon
from PySide6.QtWidgets import (
    QApplication,
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


def operator_name() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "operator"


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
                 parent: QWidget | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.engine = engine
        self.tiles = tiles or (lambda: [])
        self.sound = sound or AlarmSound(getattr(getattr(engine, "settings", None), "sound", True))
        self.tray = tray
        self.who = who or operator_name()
        self.blink_on = False
        self._tasks = TaskRunner(parent=self, name="ui:alarms")  # hands engine events over; starts no thread
        tasks, on_event = self._tasks, self._on_event
        engine.subscribe(lambda event: tasks.call_on_gui(on_event, event))

        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(["Severity", "Camera", "Alert", "Since", "Status"])
        self.tree.setRootIsDecorated(False)
        self.tree.setSelectionMode(QTreeWidget.SelectionMode.ExtendedSelection)
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._tree_menu)
        self.note = QLineEdit(self)
        self.note.setPlaceholderText("note (optional)")
        self.ack_button = QPushButton("Acknowledge", self)
        self.resolve_button = QPushButton("Resolve", self)
        self.mute_button = QPushButton("Mute", self)
        self.mute_button.setCheckable(True)
        self.summary = QLabel(self)
        self.ack_button.clicked.connect(lambda: self.acknowledge_selected())
        self.resolve_button.clicked.connect(lambda: self.resolve_selected())
        self.mute_button.toggled.connect(self.set_muted)
        buttons = QHBoxLayout()
        for w in (self.ack_button, self.resolve_button, self.mute_button):
            buttons.addWidget(w)
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.summary)
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

    def refresh(self) -> None:
        selected = set(self.selected_ids())
        self.tree.clear()
        for a in self.alerts():
            since = time.strftime("%H:%M:%S", time.localtime(a.started_at))
            status = a.status.value + (f" by {a.acknowledged_by}" if a.acknowledged_by else "")
            item = QTreeWidgetItem([a.severity.value, a.name or a.camera_id, a.summary, since, status])
            item.setData(0, Qt.ItemDataRole.UserRole, a.id)
            item.setForeground(0, QColor(SEVERITY_COLORS[a.severity]))
            if a.needs_attention:
                f = item.font(2)
                f.setBold(True)
                item.setFont(2, f)
            self.tree.addTopLevelItem(item)
            item.setSelected(a.id in selected)
        n, u = len(self.alerts()), len(self.unacknowledged())
        self.summary.setText(f"{n} open alert{'s' * (n != 1)}, {u} unacknowledged" if n else "No open alerts")
        self._apply_borders()

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

    def _tree_menu(self, pos) -> None:
        menu = QMenu(self)
        menu.addAction("Acknowledge", lambda: self.acknowledge_selected())
        menu.addAction("Resolve", lambda: self.resolve_selected())
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
        menu.addAction(f"Resolve {len(mine)} alert(s)", lambda: self.resolve_selected([a.id for a in mine], ""))

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
    panel = AlarmPanel(engine, lambda: list(window.wall.tiles), tray=tray)
    window.add_dock("Alarms", panel, "right")
    window.tile_context_menu_hooks.append(panel.add_tile_actions)
    window.add_menu_action("&Alarms", "Acknowledge all", lambda: panel.acknowledge_selected(
        [a.id for a in panel.unacknowledged()], ""), shortcut="Ctrl+Shift+A")  # fmt: skip
    mute = window.add_menu_action("&Alarms", "Mute alarm sound", lambda: None)
    mute.setCheckable(True)
    mute.toggled.connect(panel.mute_button.setChecked)
    window.destroyed.connect(lambda *_: panel.shutdown())
    return panel
