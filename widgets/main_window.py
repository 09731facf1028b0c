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
    QInputDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.config import AppConfig, ConfigError
from app.layouts import LAYOUTS
from app.pipeline.state import StreamState
from app.runtime import Runtime
from app.views import ViewBook, load_private_views, private_views_path, save_private_views, unique_name
from widgets.arrangement import LAYOUT_KEYS, WallArrangement
from widgets.frame_service import FrameService
from widgets.status_tiles import status_snapshots
from widgets.tasks import TaskRunner
from widgets.text_sizes import UI_SCALE_CHOICES, ui_scale_words
from widgets.view_arrangement import ViewArrangement
from widgets.wall import WallView

log = logging.getLogger(__name__)

DOCK_AREAS = {
    "right": Qt.DockWidgetArea.RightDockWidgetArea,
    "left": Qt.DockWidgetArea.LeftDockWidgetArea,
    "bottom": Qt.DockWidgetArea.BottomDockWidgetArea,
    "top": Qt.DockWidgetArea.TopDockWidgetArea,
}
ATTENTION_STRIP_STYLE = "background: #ffb020; color: #101317; padding: 0 16px;"  # amber: attention, not the red
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


def live_words(live: int, enabled: int, configured: int) -> tuple[str, str]:
    """(words, colour) of the status bar's camera count. Green only when it means "all is well" (every
    switched-on camera live), amber when some are not; no colour when there is nothing to judge."""
    if configured == 0:
        return "No cameras yet", ""
    if enabled == 0:
        return "Every camera is switched off", ""
    if live == enabled:
        return ("The camera is live" if enabled == 1 else f"All {enabled} cameras live"), "#4ade80"
    return ("The camera is not live" if enabled == 1 else f"{live} of {enabled} cameras live"), "#ffb020"


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
        self._build_views()
        self._build_camera_tree()
        self._build_live_audio()
        self._build_instant_replay()
        self._build_help_menu()
        self._build_wall_mode()
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
            help_menu = self._menus.get("help")  # Help stays the last menu, whoever adds one later
            menu = QMenu(name, self.menuBar())
            if help_menu is not None:
                self.menuBar().insertMenu(help_menu.menuAction(), menu)
            else:
                self.menuBar().addMenu(menu)
            self._menus[key] = menu
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
        self.menu("&File")  # the first menu, as on every desktop application (Quit is added below)
        view = self.menu("&View")
        group = QActionGroup(self)
        self.layout_actions: dict[str, QAction] = {}
        layouts = view.addMenu("Layout")  # every layout in words; the first eight keep their number keys 1-8
        for key, lay in LAYOUTS.items():
            number = LAYOUT_KEYS.index(key) + 1 if key in LAYOUT_KEYS else 0
            act = layouts.addAction(f"{lay.label}\t{number}" if number else lay.label)
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

    # ------------------------------------------------------------------ camera tree
    def _build_camera_tree(self) -> None:
        """The Cameras dock (left): cameras by site/group with their state words; drag onto the wall, or Enter
        / double-click to put one on the selected tile. It follows the health tick; ``apply_config`` ends with
        a health tick, so a changed camera list shows at once (and a config applied elsewhere within 0.5 s).
        Placing goes through ``self.wall`` (its own arrangement, whatever named view is shown)."""
        from widgets.camera_tree import CameraTree

        tree = self.camera_tree = CameraTree(self.runtime.config.cameras, self)
        tree.place_requested.connect(lambda ids: self.wall.place_cameras(self.wall.selected, ids))
        self.frames.health_updated.connect(lambda: tree.refresh(self.runtime.config.cameras, self.frames.snapshots))
        dock = self.add_dock("Cameras", tree, area="left")
        self.resizeDocks([dock], [max(tree.sizeHint().width(), self.width() // 6)], Qt.Orientation.Horizontal)

    # ------------------------------------------------------------------ live audio
    def _build_live_audio(self) -> None:
        """The focused camera's sound (``widgets.live_audio``): a strip on the focus view, off at each focus; M
        or View ▸ Sound of the large camera turns it on and off (only while a camera is shown large)."""
        from widgets.live_audio import LiveAudio

        self.live_audio = LiveAudio(self.runtime.supervisor, self.wall, self)
        self.frames.health_updated.connect(self.live_audio.refresh)
        act = self.menu("&View").addAction("Sound of the large camera on or off")
        act.setShortcut(QKeySequence("M"))
        act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        act.setEnabled(False)
        act.triggered.connect(self.live_audio.toggle_mute)
        self.wall.focus_changed.connect(lambda cid: act.setEnabled(bool(cid)))
        self.live_audio_action = act

    def _build_instant_replay(self) -> None:
        """Instant replay on a tile (``widgets.replay``): the tile menu's "Replay last 10 / 30 / 60 s" and
        "Back to live", R / Shift+R / Esc on the wall; the pictures come from the runtime's packet rings."""
        from widgets.replay import InstantReplay

        def name(camera_id: str) -> str:
            try:
                return self.runtime.config.camera(camera_id).name
            except KeyError:
                return camera_id

        self.instant_replay = InstantReplay(self.runtime.replay, self.frames, self.wall, name,
                                            self.status_message.emit,
                                            lambda: self.runtime.config.wall.replay_buffer_s, self)  # fmt: skip

    # ------------------------------------------------------------------ help
    def _build_help_menu(self) -> None:
        """Help, the last menu: Keyboard and mouse… (F1, and ? on the wall) and About Vigil. Both windows are
        non-modal and kept: asking again raises the open one (``widgets.help``)."""
        from widgets.help import AboutDialog, ShortcutSheet

        help_menu = self.menu("&Help")
        self.help_sheet: ShortcutSheet | None = None
        self.about_dialog: AboutDialog | None = None

        def show_keys() -> ShortcutSheet:
            if self.help_sheet is None:
                self.help_sheet = ShortcutSheet(self)
            self.help_sheet.show()
            self.help_sheet.raise_()
            self.help_sheet.activateWindow()
            return self.help_sheet

        def show_about() -> AboutDialog:
            if self.about_dialog is None:
                self.about_dialog = AboutDialog(self.runtime.paths, self)
            self.about_dialog.show()
            self.about_dialog.raise_()
            return self.about_dialog

        self.help_action = help_menu.addAction("Keyboard and mouse…")
        # "?" is a printable key: a text field that has the keyboard takes it (ShortcutOverride), the wall not
        self.help_action.setShortcuts([QKeySequence("F1"), QKeySequence("?")])
        self.help_action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        self.help_action.triggered.connect(show_keys)
        self.show_shortcut_sheet = show_keys
        help_menu.addSeparator()
        self.about_action = help_menu.addAction("About Vigil")
        self.about_action.triggered.connect(show_about)
        self.show_about = show_about
        # View ▸ Show diagnostics: the paint rate and CPU/RAM figures, off for operators (wall.diagnostics)
        self.diagnostics_action = self.menu("&View").addAction("Show diagnostics")
        self.diagnostics_action.setCheckable(True)
        self.diagnostics_action.setChecked(self.runtime.config.wall.diagnostics)
        self.diagnostics_action.toggled.connect(self.set_diagnostics)

    def set_diagnostics(self, on: bool) -> None:
        """Show or hide the status bar's paint rate and CPU/RAM figures, kept in ``wall.diagnostics``."""
        self._apply_wall(diagnostics=bool(on))
        self._update_status()

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
        elif self.view_id:  # a named view is shown: the new camera takes the chosen tile of the view too
            self._place_in_view(slot, cam.id)

    def set_overlay(self, on: bool) -> None:
        self.wall.set_overlay_visible(on)
        for w in self.page_windows:
            w.view.set_overlay_visible(on)
        self._apply_wall(show_overlay=bool(on))

    def toggle_fullscreen(self) -> None:
        """F11 and View ▸ Wall mode: into wall mode, or back out of it."""
        self.set_wall_mode(not self.wall_mode)

    # ------------------------------------------------------------------ wall mode, interface size
    def _build_wall_mode(self) -> None:
        """Wall mode (F11; the View menu's "Wall mode" action, made in ``_build_menus``), the thin attention
        strip it shows, and View ▸ Interface size. ``ui_scaler(percent) -> applied percent`` is set by
        ``run_gui`` (``widgets.theme.apply_ui_scale`` on the application): the window is handed what changes
        the application, it never looks the application up."""
        self.wall_mode = False
        self._before_wall_mode: dict = {}
        self._wall_mode_actions: list[QAction] = []
        self.ui_scaler: Callable[[int], int] | None = None
        self.fullscreen_action.setText("Wall mode")
        self.fullscreen_action.setCheckable(True)
        self.fullscreen_action.setStatusTip("Only the wall, full screen: menus, panels and status bar hidden (F11)")
        # wall mode's only words besides the tiles: alarms that need attention, when the red banner is not up
        self.attention_strip = QLabel(self.centralWidget())
        self.attention_strip.setTextFormat(Qt.TextFormat.PlainText)
        self.attention_strip.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.attention_strip.setStyleSheet(ATTENTION_STRIP_STYLE)
        self.attention_strip.hide()
        column = self.centralWidget().layout()
        column.insertWidget(column.indexOf(self.wall), self.attention_strip)
        menu = self.menu("&View").addMenu("Interface size")
        group = QActionGroup(self)
        self.ui_scale_actions: dict[int, QAction] = {}
        for percent in UI_SCALE_CHOICES:
            act = menu.addAction(ui_scale_words(percent))
            act.setCheckable(True)
            act.setChecked(percent == self.runtime.config.wall.ui_scale)
            act.triggered.connect(lambda _c=False, p=percent: self.set_ui_scale(p))
            group.addAction(act)
            self.ui_scale_actions[percent] = act

    def set_ui_scale(self, percent: int) -> None:
        """View ▸ Interface size: applied now (``ui_scaler``) and kept in ``wall.ui_scale``."""
        if percent in self.ui_scale_actions:
            self.ui_scale_actions[percent].setChecked(True)
        if self.ui_scaler is not None:
            applied = self.ui_scaler(percent)
            words = f"Interface size {applied} %" + (" (automatic, from this screen)" if percent == 0 else "")
        else:
            words = "The interface size is saved and applies the next time Vigil starts."
        self._apply_wall(ui_scale=int(percent))
        self.status_message.emit(words)

    def _menu_shortcut_actions(self) -> list[QAction]:
        """Every action in the menu bar's menus that has a shortcut (submenus included)."""
        out: list[QAction] = []
        menus = [a.menu() for a in self.menuBar().actions() if a.menu() is not None]
        while menus:
            m = menus.pop()
            for a in m.actions():
                if a.menu() is not None:
                    menus.append(a.menu())
                elif not a.shortcut().isEmpty():
                    out.append(a)
        return out

    def set_wall_mode(self, on: bool) -> None:
        """Wall mode: full screen with only the wall views (menu bar, docks, status bar and demo bar hidden)
        and, when alarms need attention and the red CRITICAL banner is not up, a thin strip saying so.

        Leaving (F11, or Esc when no tile is focused) restores exactly what showed before: a dock that was
        hidden stays hidden, a window that was maximized is maximized again. Qt drops the shortcuts of a
        hidden menu bar's actions (Ctrl+Shift+A, T, Ctrl+M, F11 itself), so while the menu bar is hidden
        those actions are also added to the window, and taken off again when it shows."""
        on = bool(on)
        if on == self.wall_mode:
            self.fullscreen_action.setChecked(on)
            return
        bars = [self.menuBar(), self.statusBar(), *([self.demo_bar] if self.demo_bar is not None else [])]
        if on:
            docks = [d for d in self.findChildren(QDockWidget) if d.parentWidget() is self]
            self._before_wall_mode = {
                "widgets": {w: not w.isHidden() for w in [*bars, *docks]},
                "state": self.windowState(),
            }
            self.wall_mode = True
            for w in self._before_wall_mode["widgets"]:
                w.hide()
            self._wall_mode_actions = [a for a in self._menu_shortcut_actions() if a not in self.actions()]
            self.addActions(self._wall_mode_actions)
            self.showFullScreen()
            self.wall.setFocus()
        else:
            before, self._before_wall_mode = self._before_wall_mode, {}
            self.wall_mode = False
            for a in self._wall_mode_actions:
                self.removeAction(a)
            self._wall_mode_actions = []
            state = before.get("state", Qt.WindowState.WindowNoState)
            if state & Qt.WindowState.WindowFullScreen:
                self.showFullScreen()
            elif state & Qt.WindowState.WindowMaximized:
                self.showMaximized()
            else:
                self.showNormal()
            for w, visible in before.get("widgets", {}).items():
                w.setVisible(visible)
        self.fullscreen_action.setChecked(on)
        self._update_attention_strip()

    def _update_attention_strip(self) -> None:
        """In wall mode: "2 cameras have alarms that need attention — press F11 for the alarm list", in a strip
        of 1/36 of the window's height (half the red banner's), unless the red CRITICAL banner already shows."""
        n = len(self.alarming_cameras)
        strip = self.attention_strip
        show = self.wall_mode and n > 0 and not self.banner_text
        if show:
            h = max(20, self.height() // 36)
            f = strip.font()
            f.setPixelSize(max(12, int(h * 0.6)))
            f.setBold(True)
            strip.setFont(f)
            strip.setFixedHeight(h)
            what = "1 camera has an alarm" if n == 1 else f"{n} cameras have alarms"
            strip.setText(f"{what} that need{'s' * (n == 1)} attention — press F11 for the alarm list")
        strip.setVisible(show)

    def keyPressEvent(self, event) -> None:
        """Esc leaves wall mode. A focused tile takes Esc first (the wall view goes back to the grid and
        does not pass the key on), so Esc on a focused camera in wall mode returns to the wall, not out of it."""
        if event.key() == Qt.Key.Key_Escape and self.wall_mode and not self.wall.focused:
            self.set_wall_mode(False)
            return
        super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._update_attention_strip()  # its height is a share of the window's

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
        held = held or self.wall.zoomed  # a page change would take the operator's zoom away
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
        self._update_attention_strip()
        follow = self.tour_timer.isActive() and self.runtime.config.wall.tour_follows_alarms
        if new and follow and not self.wall.focused:
            if self.view_id and new[0].camera_id not in self.wall.arrangement.page(0):
                self.show_view("")  # the shown view does not have the camera: to its page of all cameras
            where = self.arrangement.locate(new[0].camera_id)
            if where is not None and where[0] != self.wall.page and not self.view_id:
                self.wall.set_page(where[0])
        self._update_status()

    def _tour_step(self) -> None:
        if not self.tour_paused():
            if self.views.ordered:
                self.show_next_view()  # with views, the tour cycles the views (docs/wall.md, "Named views")
            else:
                self.wall.next_page()

    def _on_interaction(self) -> None:
        self._last_input = time.monotonic()

    # ------------------------------------------------------------------ arrangement
    def _on_layout_changed(self, layout: str) -> None:
        if layout in self.layout_actions:
            self.layout_actions[layout].setChecked(True)
        self.save_arrangement()

    def save_arrangement(self) -> None:
        if self.view_id:  # the edit is the shown view's: saved where it lives, wall.pages stays all cameras'
            self._save_shown_view()
            return
        self._apply_wall()

    def _apply_wall(self, **wall_changes) -> None:
        """The arrangement on screen (and *wall_changes*) into the config, through the one entry point."""
        config = self.runtime.config.model_copy(deep=True)
        for key, value in wall_changes.items():
            setattr(config.wall, key, value)
        self.apply_config(config)

    # ------------------------------------------------------------------ named views
    def _build_views(self) -> None:
        """Named views (``app/views.py``): the Views menu before Cameras, with All cameras (Ctrl+0), the views
        (shared first, then private; Ctrl+1..Ctrl+9 open the first nine) and the actions on the shown view.

        The private views file is read here, once, on the GUI thread: one small file at start-up, like the
        theme; every write goes to the window's task thread. A file that cannot be read is said in the status
        bar (in words, until the operator saves a view) and is never written over (``app.views``)."""
        self.view_id = ""  # '' = the paged all-cameras wall (self.arrangement); else the shown view's id
        self._private_path = private_views_path(self.runtime.paths.data_dir)
        loaded = load_private_views(self._private_path)
        self._private_views = loaded.views
        self._private_unreadable = bool(loaded.problem)
        self._private_saved = None  # the last private save's Future (tests wait on it)
        if loaded.problem:
            log.warning("%s", loaded.problem)
        self.views_problem_label = QLabel(loaded.problem)
        self.views_problem_label.setStyleSheet("color: #ff6b6b;")
        self.views_problem_label.setToolTip(loaded.problem)
        self.views_problem_label.setVisible(bool(loaded.problem))
        self.statusBar().addWidget(self.views_problem_label, 1)
        self.views_menu = QMenu("&Views", self.menuBar())
        self.menuBar().insertMenu(self.menu("&Cameras").menuAction(), self.views_menu)
        self._menus["views"] = self.views_menu
        self.view_actions: dict[str, QAction] = {}
        self.wall.layout_shown.connect(self._check_layout)
        self._rebuild_views_menu()

    @property
    def views(self) -> ViewBook:
        """The shared views are the config's (one source: a config applied from anywhere carries them), the
        private ones this user's file's."""
        return ViewBook(tuple(self.runtime.config.wall.views), tuple(self._private_views))

    def _rebuild_views_menu(self) -> None:
        """Refill the Views menu. Old actions are removed and deleted later, not at once: this runs from
        their own ``triggered`` (Duplicate, Delete…), and deleting the emitting action would crash."""
        menu = self.views_menu
        for act in menu.actions():
            act.setEnabled(False)
            menu.removeAction(act)
            act.deleteLater()
        group = QActionGroup(menu)
        book = self.views
        self.view_actions = {}

        def add_view(view_id: str, text: str, shortcut: str) -> None:
            act = menu.addAction(text)
            act.setCheckable(True)
            act.setChecked(view_id == self.view_id)
            if shortcut:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
            act.triggered.connect(lambda _c=False, v=view_id: self._operator_shows_view(v))
            group.addAction(act)
            self.view_actions[view_id] = act

        add_view("", "All cameras", "Ctrl+0")
        n = 0
        for title, side, mark in (("Shared with all workstations", book.shared, " — shared"),
                                  ("Private (only you, on this computer)", book.private, "")):  # fmt: skip
            if side:  # a greyed heading line (a QMenu section shows no text in this style)
                menu.addSeparator()
                menu.addAction(title).setEnabled(False)
            for view in side:
                n += 1
                add_view(view.id, f"{view.name}{mark}", f"Ctrl+{n}" if n <= 9 else "")
        menu.addSeparator()
        shown = bool(self.view_id) and book.find(self.view_id) is not None
        shared = shown and book.is_shared(self.view_id)
        items = (
            ("New view from this page…", self.ask_new_view, True),
            ("Rename view…", self.ask_rename_view, shown),
            ("Duplicate view", self.duplicate_view, shown),
            ("Delete view…", self.ask_delete_view, shown),
            ("Share with all workstations", lambda: self.set_view_shared(True), shown and not shared),
            ("Make private", lambda: self.set_view_shared(False), shared),
        )
        for text, slot, enabled in items:
            act = menu.addAction(text)
            act.setEnabled(enabled)
            act.triggered.connect(lambda _c=False, f=slot: f())
        self.tour_action.setText("Tour (cycle views)" if book.ordered else "Tour (cycle pages)")

    def _operator_shows_view(self, view_id: str) -> None:
        self._on_interaction()  # chosen by hand: the tour waits, as after any input
        self.show_view(view_id)

    def show_view(self, view_id: str) -> None:
        """Show a named view in the main wall ('' = all cameras, at its first page). The wall swaps its
        arrangement: the frame service's demands follow the new tiles at once."""
        view = self.views.find(view_id) if view_id else None
        if view_id and view is None:
            self.status_message.emit("That view no longer exists: showing all cameras.")
        if view is not None:
            cams = [c.id for c in self.runtime.config.cameras]
            arrangement: WallArrangement = ViewArrangement(view.id, list(view.camera_ids), view.layout, cams)
        else:
            arrangement = self.arrangement
        self.view_id = view.id if view is not None else ""
        self.wall.show_arrangement(arrangement)
        self._check_layout(arrangement.layout)
        for vid, act in self.view_actions.items():
            act.setChecked(vid == self.view_id)
        self._rebuild_views_menu()
        self._update_status()

    def show_next_view(self) -> None:
        """The tour's step when there are views: the next view in menu order (from all cameras: the first)."""
        ids = [v.id for v in self.views.ordered]
        if ids:
            self.show_view(ids[(ids.index(self.view_id) + 1) % len(ids) if self.view_id in ids else 0])

    def _check_layout(self, layout: str) -> None:
        if layout in self.layout_actions:
            self.layout_actions[layout].setChecked(True)

    def _view_words(self) -> str:
        """The status bar's page label: which page of all cameras, or which view, and the layout."""
        layout = self.wall.arrangement.layout
        view = self.views.find(self.view_id) if self.view_id else None
        if view is None:
            return f"Page {self.wall.page + 1}/{self.arrangement.page_count} · {self.arrangement.layout}"
        where = "shared with all workstations" if self.views.is_shared(view.id) else "private"
        return f"View: {view.name} ({where}) · {LAYOUTS[layout].label if layout in LAYOUTS else layout}"

    def _commit_views(self, book: ViewBook) -> bool:
        """Keep *book*: shared views through ``apply_config`` (the config file), private ones in this user's
        file. The shared side goes first: if the config is refused nothing changed anywhere."""
        old = self.views
        if book.shared != old.shared:
            config = self.runtime.config.model_copy(deep=True)
            config.wall.views = list(book.shared)
            if not self.apply_config(config):
                return False
        if book.private != old.private:
            self._private_views = book.private
            self._save_private_views()
        self._rebuild_views_menu()
        self._update_status()
        return True

    def _save_private_views(self) -> None:
        """Write the private views on the window's task thread (one worker: saves land in order)."""
        path, views, set_aside = self._private_path, tuple(self._private_views), self._private_unreadable
        if self.runtime.demo:
            self.status_message.emit("Demo wall: your private views are kept until Vigil closes, not saved.")
            return
        self._private_unreadable = False  # the unreadable file is moved aside by this save, once

        def done(_r) -> None:
            if set_aside:
                self.views_problem_label.hide()
                self.status_message.emit(f"Your private views are saved; the file that could not be read is kept "
                                         f"as {path.name}.unreadable next to it.")  # fmt: skip

        def failed(e: BaseException) -> None:
            why = e.strerror if isinstance(e, OSError) and e.strerror else str(e)
            self.status_message.emit(f"Cannot save your private views to {path}: {why}")

        self._private_saved = self.tasks.run(
            lambda: save_private_views(path, views, set_aside_unreadable=set_aside), done, failed
        )

    def _save_shown_view(self) -> None:
        """The operator edited the shown view (swap, drop, layout): save it where it lives."""
        arrangement = self.wall.arrangement
        if not isinstance(arrangement, ViewArrangement) or self.views.find(self.view_id) is None:
            return
        self._commit_views(self.views.edit_tiles(self.view_id, arrangement.layout, arrangement.camera_ids()))

    def _place_in_view(self, slot: int, camera_id: str) -> None:
        order = self.wall.arrangement.order
        order.extend([""] * (slot + 1 - len(order)))
        if not order[slot]:
            order[slot] = camera_id
        self.wall.refresh()
        self._save_shown_view()

    def new_view_from_page(self, name: str, shared: bool = False) -> str:
        """A view of the page on the wall now (its layout and cameras), shown at once; its id ('' if refused)."""
        arrangement = self.wall.arrangement
        book = self.views.create(name, arrangement.layout, arrangement.page(self.wall.page), shared=shared)
        view_id = book.newest_id(shared)
        if not self._commit_views(book):
            return ""
        self.show_view(view_id)
        key = self._hotkey(view_id)
        name = book.find(view_id).name
        self.status_message.emit(f"New view “{name}” in the Views menu" + (f" (Ctrl+{key})." if key else "."))
        return view_id

    def _hotkey(self, view_id: str) -> int:
        ids = [v.id for v in self.views.ordered]
        return ids.index(view_id) + 1 if view_id in ids and ids.index(view_id) < 9 else 0

    def rename_view(self, name: str) -> bool:
        if not self.view_id:
            return False
        if not " ".join(name.split()):
            self.status_message.emit("A view needs a name: it was not renamed.")
            return False
        return self._commit_views(self.views.rename(self.view_id, name))

    def duplicate_view(self) -> str:
        if not self.view_id:
            return ""
        shared = self.views.is_shared(self.view_id)
        book = self.views.duplicate(self.view_id)
        copy_id = book.newest_id(shared)
        if not self._commit_views(book):
            return ""
        self.show_view(copy_id)
        return copy_id

    def delete_view(self) -> bool:
        if not self.view_id:
            return False
        name = self.views.find(self.view_id).name
        if not self._commit_views(self.views.delete(self.view_id)):
            return False
        self.show_view("")
        self.status_message.emit(f"View “{name}” deleted; its cameras are still on the wall.")
        return True

    def set_view_shared(self, shared: bool) -> bool:
        """Share the shown view with all workstations (it moves into the config) or make it private (into this
        user's file)."""
        if not self.view_id:
            return False
        ok = self._commit_views(self.views.set_shared(self.view_id, shared))
        if ok:
            self.show_view(self.view_id)
        return ok

    def _ask_text(self, title: str, label: str, text: str, done: Callable[[str], object]) -> QInputDialog:
        dlg = QInputDialog(self)
        dlg.setWindowTitle(title)
        dlg.setLabelText(label)
        dlg.setTextValue(text)
        dlg.textValueSelected.connect(lambda value: done(value))
        dlg.open()  # not exec(): the wall keeps painting
        self._views_dialog = dlg
        return dlg

    def ask_new_view(self) -> QInputDialog:
        default = unique_name(f"View {len(self.views.ordered) + 1}", self.views.names())
        words = ("Name of the new view. It keeps this page as it is now: its layout and its cameras. It is "
                 "private until you share it.")  # fmt: skip
        return self._ask_text("New view", words, default, self.new_view_from_page)

    def ask_rename_view(self) -> QInputDialog | None:
        view = self.views.find(self.view_id) if self.view_id else None
        if view is None:
            return None
        return self._ask_text("Rename view", f"New name for the view “{view.name}”:", view.name, self.rename_view)

    def ask_delete_view(self) -> QMessageBox | None:
        view = self.views.find(self.view_id) if self.view_id else None
        if view is None:
            return None
        who = "every workstation that uses this configuration" if self.views.is_shared(view.id) else "you"
        box = QMessageBox(QMessageBox.Icon.Question, "Delete view",
                          f"Delete the view “{view.name}” for {who}? The cameras stay on the wall; only this "
                          "arrangement of them is removed.",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel, self)  # fmt: skip
        box.button(QMessageBox.StandardButton.Yes).setText("Delete view")
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.accepted.connect(self.delete_view)
        box.open()
        self._views_dialog = box
        return box

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
        w = PageWindow(self.runtime, self.frames, self.wall.arrangement.layout, self.wall.arrangement.order, page,
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
        if self.wall.arrangement is not self.arrangement:  # a named view: a removed camera leaves an empty tile
            self.wall.arrangement.sync_cameras([c.id for c in config.cameras])
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
        words, colour = live_words(live, total, len(self.runtime.config.cameras))
        self.live_label.setText(words)
        self.live_label.setStyleSheet(f"color: {colour};" if colour else "")
        diagnostics = self.runtime.config.wall.diagnostics  # figures for whoever tunes the wall, not operators
        self.fps_label.setText(f"Pictures drawn: {self.frames.painted_fps:.0f} a second")
        self.fps_label.setVisible(diagnostics)
        self.cpu_label.setVisible(diagnostics)
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
        shown = set(self.wall.arrangement.page(self.wall.page))
        elsewhere = sum(1 for cid in self.alarming_cameras if cid not in shown and self.arrangement.locate(cid))
        where = "outside this view" if self.view_id else "on other pages"
        alarms = f" · {elsewhere} alarming {where}" if elsewhere else ""
        self.page_label.setText(f"{self._view_words()}{tour}{focus}{alarms}")
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
        self.live_audio.shutdown()  # releases the sound device (bounded: 1 s)
        self.tasks.shutdown()  # never waits: outcomes still on their way are dropped
        self.frames.stop()
        self.instant_replay.stop()
        self.tour_timer.stop()
        self._cpu_timer.stop()
        for w in list(self.page_windows):
            w.close()
        self.wall.detach()
