"""Vigil's main window: the wall, menus, docks for other features, status bar, tour, page windows.

Integration points for other features (one line each)::

    window.add_dock("Alarms", AlarmPanel(...), area="right")
    window.add_menu_action("Tools", "History…", open_history, shortcut="Ctrl+H")
    window.tile_context_menu_hooks.append(lambda menu, camera_id: menu.addAction(...))
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import psutil
from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QAction, QActionGroup, QCursor, QGuiApplication, QKeySequence, QScreen
from PySide6.QtWidgets import (
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.config import AppConfig, ConfigError
from app.pipeline.state import StreamState
from app.runtime import Runtime
from widgets.arrangement import LAYOUT_KEYS, WallArrangement
from widgets.frame_service import FrameService
from widgets.status_tiles import status_snapshots
from widgets.tasks import TaskRunner
from widgets.wall import WallView

log = logging.getLogger(__name__)

DOCK_AREAS = {
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
}
TOUR_PAUSE_S = 30.0  # the tour waits this long after the operator's last input
DEFAULT_TOUR_S = 10.0


class PageWindow(QWidget):
    """One wall page in its own top-level window (for a second monitor)."""

    closed = Signal(object)

    def __init__(
        self, runtime: Runtime, frames: FrameService, layout: str, order: list[str], page: int, status=None
    ) -> None:
        super().__init__(None, Qt.WindowType.Window)
        arr = WallArrangement([], layout)
        arr.order = list(order)
        self.view = WallView(runtime.supervisor, frames, arr, show_overlay=runtime.config.wall.show_overlay)
        if status:
            self.view.set_status_tiles(status)  # before set_page: the page may hold only status tiles
        self.view.set_page(page)
        self.setWindowTitle(f"Vigil — page {page + 1}")
        lay = QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.view)

    def keyPressEvent(self, event) -> None:
        if event.key() == Qt.Key.Key_F11:
            self.showNormal() if self.isFullScreen() else self.showFullScreen()
        else:
            super().keyPressEvent(event)

    def closeEvent(self, event) -> None:
        self.view.detach()
        self.closed.emit(self)
        super().closeEvent(event)


def screen_choices(screens: list[QScreen], here: QScreen | None) -> list[tuple[str, QScreen]]:
    """Menu entries for "open page on monitor": one per screen, by name, maker/model and geometry."""
    out: list[tuple[str, QScreen]] = []
    for i, s in enumerate(screens):
        g = s.geometry()
        name = s.name() or f"Screen {i + 1}"
        model = " ".join(x for x in (s.manufacturer(), s.model()) if x).strip()
        label = f"{i + 1}: {name}"
        if model and model != name:
            label += f" ({model})"
        label += f" — {g.width()}x{g.height()} at {g.x()},{g.y()}"
        if s is here:
            label += " · this window"
        out.append((label, s))
    return out


def store_health_sentence(store) -> str:
    """Words for the status bar when the history is not being written ("History not written for 2 min: 81
    records held, 0 lost — …"), or was written again a moment ago ("… 81 held records written, 0 lost …");
    '' when it is simply written (or no store)."""
    if store is None:
        return ""
    try:
        return store.status().notice
    except Exception as e:  # the status bar must never take the window down
        return f"History: status unavailable ({type(e).__name__})"


class MainWindow(QMainWindow):
    status_message = Signal(str)  # GUI thread: words for the status bar (background outcomes arrive via tasks)

    def __init__(self, runtime: Runtime) -> None:
        super().__init__()
        self.runtime = runtime
        # the window's hand-over to the GUI thread (config saves, exports from dialogs that may close first)
        self.tasks = TaskRunner(parent=self, name="ui:window")
        self._set_title()
        self.resize(1600, 900)
        self._close_confirmed = False
        self._quitting = False
        self.close_box: QMessageBox | None = None
        cfg = runtime.config
        self.frames = FrameService(runtime.supervisor, cfg.wall.paint_fps, self)
        self.arrangement = WallArrangement([c.id for c in cfg.cameras], cfg.wall.layout, cfg.wall.pages)
        self.wall = WallView(runtime.supervisor, self.frames, self.arrangement, show_overlay=cfg.wall.show_overlay)
        self.demo_bar = self._build_demo_bar() if runtime.demo else None
        central = QWidget(self)
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        if self.demo_bar is not None:
            column.addWidget(self.demo_bar)
        column.addWidget(self.wall, 1)
        self.setCentralWidget(central)
        self.wall.add_requested.connect(self.add_camera_at)
        self.tile_context_menu_hooks: list[Callable[[QMenu, str], None]] = self.wall.context_menu_hooks
        if runtime.motion is not None:
            self.frames.on_each_health(self._apply_motion)
        if runtime.recording is not None:
            self.frames.on_each_health(self._apply_recording)
        # status tiles: streams known only from the analytics API (probe results), at the health rate
        if runtime.probes is not None:
            self.frames.on_each_health(self._apply_status_tiles)
        self.page_windows: list[PageWindow] = []
        self.docks: dict[str, QDockWidget] = {}
        self._menus: dict[str, QMenu] = {}
        self._last_input = 0.0
        self._process = psutil.Process()
        self._process.cpu_percent(None)
        self.cpu_percent = 0.0
        self.rss_mb = 0.0
        self.banner_text = ""  # the attention banner (unacknowledged CRITICAL alarms), on every wall view
        self.critical_cameras: set[str] = set()
        self.alarming_cameras: set[str] = set()  # cameras with an unacknowledged alarm (page indicator)
        self.tour_timer = QTimer(self)
        self.tour_timer.timeout.connect(self._tour_step)
        self._build_menus()
        self._build_status_bar()
        self.status_message.connect(lambda text: self.statusBar().showMessage(text, 15000))
        self.wall.interacted.connect(self._on_interaction)
        self.wall.layout_changed.connect(self._on_layout_changed)
        self.wall.arrangement_changed.connect(self.save_arrangement)
        self.wall.page_changed.connect(lambda *_: self._update_status())
        self.wall.focus_changed.connect(lambda *_: self._update_status())
        self.frames.health_updated.connect(self._update_status)
        if cfg.wall.tour_seconds > 0:
            self.set_tour(True)
        self.frames.start()
        self.wall.setFocus()

    # ------------------------------------------------------------------ integration API
    def menu(self, name: str) -> QMenu:
        key = name.replace("&", "").lower()
        if key not in self._menus:
            self._menus[key] = self.menuBar().addMenu(name)
        return self._menus[key]

    def add_menu_action(
        self, menu_name: str, text: str, callback: Callable[[], object], shortcut: str | None = None
    ) -> QAction:
        act = self.menu(menu_name).addAction(text)
        act.triggered.connect(lambda _checked=False: callback())
        if shortcut:
            act.setShortcut(QKeySequence(shortcut))
            act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        return act

    def add_dock(self, name: str, widget: QWidget, area: str = "right") -> QDockWidget:
        if area not in DOCK_AREAS:
            raise ValueError(f"dock area must be one of {', '.join(DOCK_AREAS)}, not {area!r}")
        dock = QDockWidget(name, self)
        dock.setObjectName(f"dock:{name}")
        dock.setWidget(widget)
        self.addDockWidget(DOCK_AREAS[area], dock)
        self.menu("&Window").addAction(dock.toggleViewAction())
        self.docks[name] = dock
        return dock

    # ------------------------------------------------------------------ menus
    def _build_menus(self) -> None:
        view = self.menu("&View")
        group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        for i, key in enumerate(LAYOUT_KEYS):
            act = view.addAction(f"Layout {key}\t{i + 1}")
            act.setCheckable(True)
            act.setChecked(key == self.arrangement.layout)
            act.triggered.connect(lambda _c=False, k=key: self.wall.set_layout(k))
            group.addAction(act)
            self.layout_actions[key] = act
        view.addSeparator()
        self.overlay_action = view.addAction("Health overlay\tO")
        self.overlay_action.setCheckable(True)
        self.overlay_action.setChecked(self.wall.show_overlay)
        self.overlay_action.triggered.connect(self.set_overlay)
        act = view.addAction("Next page")
        act.setShortcut(QKeySequence("Ctrl+PgDown"))
        act.triggered.connect(self.wall.next_page)
        act = view.addAction("Previous page")
        act.setShortcut(QKeySequence("Ctrl+PgUp"))
        act.triggered.connect(self.wall.previous_page)
        self.tour_action = view.addAction("Tour (cycle pages)")
        self.tour_action.setCheckable(True)
        self.tour_action.setShortcut(QKeySequence("T"))
        self.tour_action.triggered.connect(self.set_tour)
        view.addSeparator()
        self.fullscreen_action = view.addAction("Full screen")
        self.fullscreen_action.setShortcut(QKeySequence("F11"))
        self.fullscreen_action.triggered.connect(self.toggle_fullscreen)
        act = view.addAction("Open page in new window")
        act.setShortcut(QKeySequence("Ctrl+N"))
        act.triggered.connect(self.open_page_window_chosen)
        self.screen_menu = view.addMenu("Open page on monitor")
        self.screen_menu.aboutToShow.connect(lambda: self.build_screen_menu(self.screen_menu))
        cams = self.menu("&Cameras")
        act = cams.addAction("Manage cameras…")
        act.setShortcut(QKeySequence("Ctrl+M"))
        act.triggered.connect(self.open_camera_dialog)
        self.menu("&Window")
        if not self.runtime.config.wall.kiosk:
            quit_act = self.menu("&File").addAction("Quit Vigil…")
            quit_act.setShortcut(QKeySequence("Ctrl+Q"))
            quit_act.triggered.connect(self.close)

    # ------------------------------------------------------------------ demo wall
    def _set_title(self) -> None:
        demo = " (demo: changes are not kept)" if self.runtime.demo else ""
        self.setWindowTitle(f"Vigil — video wall{demo}")

    def _build_demo_bar(self) -> QWidget:
        bar = QWidget(self)
        bar.setStyleSheet("background: #1e3a5f; color: #e3f2fd;")
        row = QHBoxLayout(bar)
        row.setContentsMargins(12, 6, 12, 6)
        text = QLabel("Demo wall of built-in cameras. Changes you make here are not kept, and nothing is written "
                      "to your configuration or your site's history.", bar)  # fmt: skip
        text.setWordWrap(True)
        save = QPushButton("Save this wall as my configuration…", bar)
        save.clicked.connect(self.save_demo_as_config)
        row.addWidget(text, 1)
        row.addWidget(save)
        return bar

    def save_demo_as_config(self) -> None:
        """Keep the demo wall: write it to the user's config file (asked first if one exists) and save every
        change from now on. This run's history stays in the demo folder; the next start uses the site's."""
        path = self.runtime.paths.config_file
        if path.exists():
            box = QMessageBox(QMessageBox.Icon.Question, "Save this wall",
                              f"{path} already exists. Replace it with this wall?",
                              QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
            box.accepted.connect(self._keep_demo_wall)
            box.open()
            self._demo_box = box
            return
        self._keep_demo_wall()

    def _keep_demo_wall(self) -> None:
        path = self.runtime.paths.config_file
        self.runtime.demo = False  # from now on every change is saved, on the runtime's one saving thread
        self._set_title()
        if self.demo_bar is not None:
            self.demo_bar.hide()
        saved = self.runtime.save_now()

        def done(_r) -> None:
            self.status_message.emit(f"This wall is saved to {path}; changes are kept from now on.")

        def failed(e: BaseException) -> None:
            self.runtime.demo = True  # nothing was kept: say so, and keep saying it
            self._set_title()
            if self.demo_bar is not None:
                self.demo_bar.show()
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.status_message.emit(f"Cannot save the configuration to {path}: {why}")

        if saved is not None:
            self.tasks.when_done(saved, done, failed)

    # ------------------------------------------------------------------ closing
    def closeEvent(self, event) -> None:
        """A 24/7 wall does not vanish on a stray Alt+F4: closing asks first (``wall.confirm_close``), and a
        kiosk wall (``wall.kiosk``) cannot be closed from the desktop at all (stop Vigil from the OS: SIGTERM
        closes it cleanly)."""
        wall = self.runtime.config.wall
        if wall.kiosk and not self._quitting:
            event.ignore()
            self.status_message.emit("This wall runs in kiosk mode: it cannot be closed from here.")
            return
        if wall.confirm_close and not self._close_confirmed:
            event.ignore()
            self._ask_close()
            return
        self.shutdown()
        super().closeEvent(event)

    def _ask_close(self) -> None:
        if self.close_box is not None and self.close_box.isVisible():
            return
        n = sum(1 for c in self.runtime.config.cameras if c.enabled)
        box = QMessageBox(QMessageBox.Icon.Warning, "Close Vigil?",
                          f"Close Vigil? {n} camera{'s' * (n != 1)} will no longer be watched or recorded, and no "
                          "alarm is raised while Vigil is closed.",
                          QMessageBox.StandardButton.Close | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.button(QMessageBox.StandardButton.Close).clicked.connect(self._confirm_close)
        box.open()
        self.close_box = box

    def _confirm_close(self) -> None:
        self._close_confirmed = True
        self.close()

    def allow_close(self) -> None:
        """Vigil itself is quitting (SIGTERM, SIGINT, ``--duration``): no question, not even in kiosk mode.
        Qt 6's ``quit()`` closes the windows first and a refused close would veto it."""
        self._close_confirmed = True
        self._quitting = True

    # ------------------------------------------------------------------ adding a camera where it belongs
    def add_camera_at(self, slot: int) -> None:
        """Double-click on an empty tile: the camera form; the new camera takes that tile."""
        from widgets.camera_dialog import CameraEditDialog

        dlg = CameraEditDialog(self.runtime.config, None, self)
        dlg.accepted.connect(lambda: self._camera_added(dlg, slot))
        dlg.open()
        self._add_dialog = dlg

    def _camera_added(self, dlg, slot: int) -> None:
        cam = dlg.camera()
        if cam is None:
            return
        before = list(self.arrangement.order)
        order = self.arrangement.order
        order.extend([""] * (slot + 1 - len(order)))
        if order[slot] == "":
            order[slot] = cam.id  # the tile the operator chose (sync_cameras keeps a placed camera where it is)
        config = self.runtime.config.model_copy(deep=True)
        config.cameras.append(cam)
        if not self.apply_config(config):
            self.arrangement.order = before

    def set_overlay(self, on: bool) -> None:
        self.wall.set_overlay_visible(on)
        for w in self.page_windows:
            w.view.set_overlay_visible(on)
        self._apply_wall(show_overlay=bool(on))

    def toggle_fullscreen(self) -> None:
        if self.isFullScreen():
            self.showNormal()
            self.menuBar().show()
        else:
            self.showFullScreen()

    # ------------------------------------------------------------------ tour
    def set_tour(self, on: bool) -> None:
        secs = self.runtime.config.wall.tour_seconds or DEFAULT_TOUR_S
        self.tour_action.setChecked(bool(on))
        if on:
            self.tour_timer.start(int(secs * 1000))
        else:
            self.tour_timer.stop()
        self._update_status()

    def tour_paused(self) -> bool:
        held = bool(self.critical_cameras) and self.runtime.config.wall.tour_follows_alarms
        return held or bool(self.wall.focused) or (time.monotonic() - self._last_input < TOUR_PAUSE_S)

    # ------------------------------------------------------------------ alarm attention
    def set_alarm_attention(self, banner: str, critical: list, alarming: set[str]) -> None:
        """From the alarm panel after every change: the banner on every wall view; a new CRITICAL turns a
        running tour to its camera's page and holds it there until acknowledged (``wall.tour_follows_alarms``)."""
        self.banner_text = banner
        for view in [self.wall, *(w.view for w in self.page_windows)]:
            view.set_banner(banner)
        cams = {a.camera_id for a in critical if a.camera_id}
        new = [a for a in sorted(critical, key=lambda a: a.started_at) if a.camera_id in cams - self.critical_cameras]
        self.critical_cameras, self.alarming_cameras = cams, set(alarming)
        follow = self.tour_timer.isActive() and self.runtime.config.wall.tour_follows_alarms
        if new and follow and not self.wall.focused:
            where = self.arrangement.locate(new[0].camera_id)
            if where is not None and where[0] != self.wall.page:
                self.wall.set_page(where[0])
        self._update_status()

    def _tour_step(self) -> None:
        if not self.tour_paused():
            self.wall.next_page()

    def _on_interaction(self) -> None:
        self._last_input = time.monotonic()

    # ------------------------------------------------------------------ arrangement
    def _on_layout_changed(self, layout: str) -> None:
        if layout in self.layout_actions:
            self.layout_actions[layout].setChecked(True)
        self.save_arrangement()

    def save_arrangement(self) -> None:
        self._apply_wall()

    def _apply_wall(self, **wall_changes) -> None:
        """The arrangement on screen (and *wall_changes*) into the config, through the one entry point."""
        config = self.runtime.config.model_copy(deep=True)
        for key, value in wall_changes.items():
            setattr(config.wall, key, value)
        self.apply_config(config)

    # ------------------------------------------------------------------ page windows
    def build_screen_menu(self, menu: QMenu, page: int | None = None) -> list[QAction]:
        """Fill *menu* with one action per screen (QGuiApplication.screens(), asked each time: monitors
        come and go); triggering one opens the page on that screen."""
        menu.clear()
        page = self.wall.page if page is None else page
        acts = []
        for label, screen in screen_choices(QGuiApplication.screens(), self.screen()):
            act = menu.addAction(label)
            act.triggered.connect(lambda _c=False, s=screen: self.open_page_window(page, s))
            acts.append(act)
        return acts

    def open_page_window_chosen(self) -> PageWindow | QMenu | None:
        """Ctrl+N: with several other monitors, ask which one (a menu at the cursor); else open at once."""
        here = self.screen()
        others = [s for s in QGuiApplication.screens() if s is not here]
        if len(others) > 1:
            if getattr(self, "_screen_popup", None) is not None:
                self._screen_popup.deleteLater()  # one question at a time, not one menu per Ctrl+N
            menu = QMenu(self)
            self.build_screen_menu(menu)
            menu.popup(QCursor.pos())
            self._screen_popup = menu
            return menu
        return self.open_page_window(self.wall.page)

    def open_page_window(self, page: int, screen: QScreen | None = None) -> PageWindow:
        """Open *page* in its own window: full screen on *screen* (default: the first other monitor), or
        a normal window when that is the main window's own monitor (or there is no other)."""
        w = PageWindow(self.runtime, self.frames, self.arrangement.layout, self.arrangement.order, page,
                       status=self.wall.status_snapshots)  # fmt: skip
        w.closed.connect(lambda win: self.page_windows.remove(win) if win in self.page_windows else None)
        w.view.set_banner(self.banner_text)  # an unacknowledged CRITICAL shows on every wall
        self.page_windows.append(w)
        here = self.screen()
        if screen is None:
            screen = next((s for s in QGuiApplication.screens() if s is not here), None) or here
        other = screen is not here
        w.setScreen(screen)
        geo = screen.availableGeometry()
        w.setGeometry(geo if other else geo.adjusted(40, 40, -40, -40))
        w.show()
        if other:
            w.showFullScreen()
        return w

    # ------------------------------------------------------------------ cameras
    def open_camera_dialog(self) -> None:
        from widgets.camera_dialog import CameraManagerDialog

        dlg = CameraManagerDialog(self.runtime.config, self)
        dlg.config_accepted.connect(self.apply_config)
        dlg.open()
        self._camera_dialog = dlg

    def apply_config(self, config: AppConfig) -> bool:
        """Adopt an edited config (camera manager, motion zones, the arrangement) through
        ``Runtime.apply_config``: it restarts only changed pipelines, updates the live services and saves in
        the background (never in demo mode). The wall follows; the status bar says what waits for a
        restart, or why the config was refused or not saved. False if it was refused."""
        config = config.model_copy(deep=True)
        config.wall.layout = self.arrangement.layout
        before = list(self.arrangement.order)
        self.arrangement.sync_cameras([c.id for c in config.cameras])
        config.wall.pages = self.arrangement.to_pages()
        try:
            applied = self.runtime.apply_config(config)
        except Exception as e:  # refused (ConfigError, in words) or failed: the wall keeps what it had
            self.arrangement.order = before
            log.error("configuration not applied: %s", e, exc_info=not isinstance(e, ConfigError))
            self.status_message.emit(f"Configuration not applied: {e}")
            return False
        if applied.saved is not None:  # the saver thread writes the file; a failure is said on the GUI thread
            self.tasks.when_done(applied.saved, None, self._on_config_save_failed, what="saving the configuration")
        if applied.restart_needed:
            self.status_message.emit(applied.restart_sentence())
        self.wall.refresh()
        self.frames.health_tick()
        return True

    def _on_config_save_failed(self, e: BaseException) -> None:
        """A failed background save, said in the status bar."""
        why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
        self.status_message.emit(f"Cannot save the configuration to {self.runtime.paths.config_file}: {why}")

    # ------------------------------------------------------------------ status bar
    def _build_status_bar(self) -> None:
        sb = self.statusBar()
        self.store_label = QLabel()
        self.store_label.setStyleSheet("color: #ff6b6b;")
        self.store_label.hide()
        self.sound_label = QLabel()  # why alarms would not be heard (the alarm panel's sound), hidden when they are
        self.sound_label.setStyleSheet("color: #ff6b6b;")
        self.sound_label.hide()
        self.operator_label = QLabel()  # who acknowledges (the alarm panel's operator)
        self.operator_label.hide()
        self.live_label = QLabel()
        self.api_label = QLabel()
        self.api_label.hide()
        self.cpu_label = QLabel()
        self.fps_label = QLabel()
        self.page_label = QLabel()
        for w in (self.store_label, self.sound_label, self.operator_label, self.live_label, self.api_label,
                  self.page_label, self.fps_label, self.cpu_label):  # fmt: skip
            sb.addPermanentWidget(w)
        self._cpu_timer = QTimer(self)
        self._cpu_timer.timeout.connect(self._sample_process)
        self._cpu_timer.start(2000)
        self._update_store_health()
        self._update_status()

    def _sample_process(self) -> None:
        self._update_store_health()
        try:
            self.cpu_percent = self._process.cpu_percent(None)
            self.rss_mb = self._process.memory_info().rss / 1e6
        except psutil.Error:
            return
        self.cpu_label.setText(f"CPU {self.cpu_percent:.0f}% · RAM {self.rss_mb:.0f} MB")

    def _update_store_health(self) -> None:
        """Every 2 s: the store's sentence when the history is not being written; hidden when it is."""
        text = store_health_sentence(self.runtime.store)
        if text != self.store_label.text():
            self.store_label.setText(text)
            self.store_label.setToolTip(text)
        self.store_label.setVisible(bool(text))

    def set_alarm_sound_status(self, words: str) -> None:
        """From the alarm panel: why alarms would not be heard, in red; hidden when they are ('')."""
        self.sound_label.setText(words)
        self.sound_label.setToolTip(words)
        self.sound_label.setVisible(bool(words))

    def set_operator(self, name: str) -> None:
        """From the alarm panel: the name acknowledgements are signed with."""
        self.operator_label.setText(f"Operator: {name}")
        self.operator_label.setToolTip("Acknowledgements and shelves carry this name (Alarms > Change operator…)")
        self.operator_label.show()

    def _apply_status_tiles(self) -> None:
        snaps = status_snapshots(self.runtime.probes.results)
        for view in [self.wall, *(w.view for w in self.page_windows)]:
            view.set_status_tiles(snaps)
        # the status bar follows: health_updated also runs _update_status, connected after this

    def live_counts(self) -> tuple[int, int]:
        snaps = self.frames.snapshots
        enabled = [c.id for c in self.runtime.config.cameras if c.enabled]
        live = sum(1 for cid in enabled if cid in snaps and snaps[cid].state is StreamState.LIVE)
        return live, len(enabled)

    def _update_status(self) -> None:
        live, total = self.live_counts()
        self.live_label.setText(f"Cameras: {live}/{total} live")
        self.live_label.setStyleSheet("color: #4ade80;" if live == total else "color: #ffb020;")
        self.fps_label.setText(f"Wall: {self.frames.painted_fps:.0f} fps painted")
        status = self.wall.status_snapshots
        if status:
            up = sum(1 for s in status.values() if s.state is StreamState.LIVE)
            self.api_label.setText(f"API streams: {up}/{len(status)} running")
            self.api_label.setStyleSheet("color: #4ade80;" if up == len(status) else "color: #ffb020;")
        self.api_label.setVisible(bool(status))
        tour = ""
        if self.tour_timer.isActive():
            tour = " · tour paused" if self.tour_paused() else " · tour"
        focus = f" · focused: {self.wall.focus_tile.name or self.wall.focused}" if self.wall.focused else ""
        elsewhere = 0
        for cid in self.alarming_cameras:
            where = self.arrangement.locate(cid)
            elsewhere += where is not None and where[0] != self.wall.page
        alarms = f" · {elsewhere} alarming on other pages" if elsewhere else ""
        self.page_label.setText(
            f"Page {self.wall.page + 1}/{self.arrangement.page_count} · {self.arrangement.layout}{tour}{focus}{alarms}"
        )
        self.page_label.setStyleSheet("color: #ff6b6b;" if elsewhere else "")

    # ------------------------------------------------------------------ shutdown
    def _apply_motion(self) -> None:
        """Motion markers on every wall view (2 Hz, with the health timer): reads the motion service's
        frozen per-camera states, never waits on the analysis."""
        states = self.runtime.motion.states()
        boxes = {c.id: c.motion.show_boxes for c in self.runtime.config.cameras}
        for view in [self.wall, *(w.view for w in self.page_windows)]:
            view.apply_motion(states, boxes)

    def _apply_recording(self) -> None:
        """REC badges (2 Hz, with the health timer) from the recorders' frozen statuses."""
        recording = {cid for cid, st in self.runtime.recording.statuses().items() if st.state == "recording"}
        for view in [self.wall, *(w.view for w in self.page_windows)]:
            view.apply_recording(recording)

    def shutdown(self) -> None:
        """Stop timers, close page windows, finish pending config writes. Idempotent."""
        self.tasks.shutdown()  # never waits: outcomes still on their way are dropped
        self.frames.stop()
        self.tour_timer.stop()
        self._cpu_timer.stop()
        for w in list(self.page_windows):
            w.close()
        self.wall.detach()
