"""The video wall view: a grid of tiles for one page, selection, focus, paging, drag-to-swap, keys.

Pure Qt: no network, decoder or disk on the GUI thread. Frames come through the shared
:class:`~widgets.frame_service.FrameService`. Keys: arrows move the selection, Enter (or a
double-click) focuses the selected camera, Esc returns, 1-8 pick layouts (1, 2x2, 3x3, 4x4, 5x5, 6x6,
8x4, 8x8), PageUp/PageDown change page, O toggles the overlay. Zoom (the selected tile, or the focused
camera): + or = in, - out, 0 the whole picture; the wheel zooms around the pointer, a drag pans a
zoomed picture, a double-click on it shows the whole picture again.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable

from PySide6.QtCore import QPoint, QRect, Qt, Signal
from PySide6.QtGui import QKeyEvent
from PySide6.QtWidgets import QLabel, QMenu, QWidget

from app.layouts import cell_rects, neighbour
from app.pipeline.state import HealthSnapshot
from app.pipeline.supervisor import MAIN, TILE, Supervisor
from widgets.arrangement import LAYOUT_KEYS, WallArrangement, is_status_id
from widgets.frame_service import FrameService
from widgets.tile import TileWidget
from widgets.zoom import NO_ZOOM, demand_size

log = logging.getLogger(__name__)

LAYOUT_FOR_KEY = {getattr(Qt.Key, f"Key_{i + 1}"): key for i, key in enumerate(LAYOUT_KEYS)}
GAP = 2
BANNER_STYLE = "background: #c62828; color: white; font-weight: bold; padding: 0 16px;"
EMPTY_WALL_HINT = ("No cameras on this wall yet.\n\nDouble-click a tile to add a camera there,\n"
                   "or open Cameras > Manage cameras… (Ctrl+M).")  # fmt: skip


class WallView(QWidget):
    interacted = Signal()  # any operator input (pauses the tour)
    layout_changed = Signal(str)
    layout_shown = Signal(str)  # another arrangement (a view) is shown with this layout: not an edit, not saved
    page_changed = Signal(int, int)  # (page, page count)
    arrangement_changed = Signal()  # swap: save it
    focus_changed = Signal(str)  # camera id, '' when back to the grid
    selection_changed = Signal(int)
    add_requested = Signal(int)  # double-click on an empty tile: add a camera there (slot in the arrangement)

    def __init__(
        self,
        supervisor: Supervisor,
        frames: FrameService,
        arrangement: WallArrangement,
        *,
        show_overlay: bool = True,
        names: Callable[[str], tuple[str, str]] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.supervisor = supervisor
        self.frames = frames
        self.arrangement = arrangement
        self.show_overlay = show_overlay
        self._names = names or self._config_names
        self.page = 0
        self.selected = 0
        self.focused: str = ""
        self._main_opened = False
        self._main_live = False
        # main streams opened for zoomed wall tiles: camera id -> opened (False: no sub-stream, the tile
        # already shows the main stream), and those whose first main frame has arrived
        self._zoom_main: dict[str, bool] = {}
        self._zoom_live: set[str] = set()
        self._zoom_down: set[str] = set()  # their main stream is down: the tile shows the sub-stream meanwhile
        self.tiles: list[TileWidget] = []
        self.status_snapshots: dict[str, HealthSnapshot] = {}  # status tiles (analytics API), by tile id
        self.context_menu_hooks: list[Callable[[QMenu, str], None]] = []
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setAutoFillBackground(False)
        self.focus_tile = TileWidget(-1, self)
        self.focus_tile.hide()
        self.focus_tile.activated.connect(lambda _i: self.unfocus())
        self.focus_tile.context_requested.connect(lambda _i, pos: self._context_menu(self.focused, pos))
        self.focus_tile.zoom_changed.connect(self._on_zoom_changed)
        # the attention banner: an unacknowledged CRITICAL alarm, across the top until acknowledged; it takes
        # its own strip (the tiles move down) so it never hides a picture
        self.banner = QLabel(self)
        self.banner.setTextFormat(Qt.TextFormat.PlainText)  # a device's words in a summary are never HTML
        self.banner.setStyleSheet(BANNER_STYLE)
        self.banner.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.banner.hide()
        self.banner_text = ""  # the whole text; the label shows it elided in the middle to fit the width
        # first run: a wall with no camera says how to add one (double-click a tile, or the camera manager)
        self.hint = QLabel(EMPTY_WALL_HINT, self)
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        self.hint.setStyleSheet("color: #cfd8dc; background: rgba(20, 28, 36, 200); padding: 24px;")
        self.hint.setAttribute(Qt.WidgetAttribute.WA_TransparentForMouseEvents)  # the tiles below take the clicks
        self.hint.hide()
        frames.add_view(self)
        self._rebuild()

    # ------------------------------------------------------------------ model -> tiles
    def _config_names(self, camera_id: str) -> tuple[str, str]:
        try:
            cam = self.supervisor.config.camera(camera_id)
        except KeyError:
            return (camera_id, "")
        return (cam.name, cam.group)

    def _tile_names(self, tile_id: str) -> tuple[str, str]:
        if is_status_id(tile_id):
            snap = self.status_snapshots.get(tile_id)
            return (snap.name, snap.group) if snap is not None else (tile_id, "")
        return self._names(tile_id)

    def _snapshot(self, tile_id: str, snaps: dict[str, HealthSnapshot]) -> HealthSnapshot | None:
        return self.status_snapshots.get(tile_id) if is_status_id(tile_id) else snaps.get(tile_id)

    def set_status_tiles(self, snaps: dict[str, HealthSnapshot]) -> None:
        """Status tiles (streams known only from the analytics API) after the cameras, in *snaps*' order.

        Called at the health rate. A changed stream list rebuilds the page; otherwise only the status
        tiles' overlays are refreshed (a tile repaints only if its words changed).
        """
        self.status_snapshots = dict(snaps)
        if self.arrangement.set_status_ids(list(snaps)):
            self._rebuild()
            return
        for t in self.tiles:
            if t.camera_id and is_status_id(t.camera_id):
                t.set_snapshot(self.status_snapshots.get(t.camera_id))
        if self.focused and is_status_id(self.focused):
            self.focus_tile.set_snapshot(self.status_snapshots.get(self.focused))

    @property
    def layout_name(self) -> str:
        return self.arrangement.layout

    def _rebuild(self) -> None:
        cap = self.arrangement.capacity
        while len(self.tiles) > cap:
            self.tiles.pop().deleteLater()
        while len(self.tiles) < cap:
            t = TileWidget(len(self.tiles), self)
            t.activated.connect(self._on_tile_activated)
            t.clicked.connect(self._on_tile_clicked)
            t.swap_requested.connect(self.swap_tiles)
            t.cameras_dropped.connect(self.place_cameras)
            t.context_requested.connect(lambda i, pos: self._context_menu(self.tiles[i].camera_id, pos))
            t.zoom_changed.connect(self._on_zoom_changed)
            self.tiles.append(t)
        self.page = min(self.page, self.arrangement.page_count - 1)
        self.selected = min(self.selected, cap - 1)
        ids = self.arrangement.page(self.page)
        for t, cid in zip(self.tiles, ids, strict=True):
            name, group = self._tile_names(cid) if cid else ("", "")
            t.set_camera(cid, name, group)
            t.show_overlay = self.show_overlay
            t.selected = t.index == self.selected
            t.setVisible(not self.focused)
        self._sync_zoom_streams()  # a tile that got another camera lost its zoom: close what it opened
        self._place_tiles()
        self.apply_snapshots(self.frames.snapshots)
        self.page_changed.emit(self.page, self.arrangement.page_count)

    def set_banner(self, text: str) -> None:
        """Show *text* in the attention banner ('' hides it)."""
        if text == self.banner_text and bool(text) == self.banner.isVisible():
            return
        self.banner_text = text
        self.banner.setToolTip(f"<p>{html.escape(text)}</p>" if text else "")  # tooltips guess HTML: escaped
        self.banner.setVisible(bool(text))
        self._place_tiles()

    def _place_tiles(self) -> None:
        r = self.rect()
        if self.banner.isVisible():
            # readable from across the room: a strip of 1/18 of the wall's height, text half of it
            bh = max(40, r.height() // 18)
            f = self.banner.font()
            f.setPixelSize(max(16, bh // 2))
            self.banner.setFont(f)
            # elided in the middle: the start (what, which camera) and the end (since when, how to acknowledge)
            # both stay readable however long the reason in between is
            room = r.width() - 2 * bh
            self.banner.setText(
                self.banner.fontMetrics().elidedText(self.banner_text, Qt.TextElideMode.ElideMiddle, room)
            )
            self.banner.setGeometry(QRect(0, 0, r.width(), bh))
            self.banner.raise_()
            r = r.adjusted(0, bh, 0, 0)
        w, h = r.width(), r.height()
        empty = not any(self.arrangement.all_ids) and not self.focused
        self.hint.setVisible(empty)
        if empty:
            f = self.hint.font()
            f.setPixelSize(max(16, h // 28))
            self.hint.setFont(f)
            self.hint.setGeometry(QRect(r.x() + w // 6, r.y() + h // 3, w * 2 // 3, h // 3))
            self.hint.raise_()
        # by the layout's cell rects: a spanning (big) tile is bigger, and so is its output-size demand
        for t, (x, y, cw, ch) in zip(self.tiles, cell_rects(self.arrangement.layout, w, h), strict=False):
            t.setGeometry(QRect(r.x() + x, r.y() + y, max(1, cw - GAP), max(1, ch - GAP)))
        self.focus_tile.setGeometry(r)
        self._update_demands()

    def _update_demands(self) -> None:
        """Tell the frame service which cameras this view shows, at which size (0x0 = hidden)."""
        fr = self.frames
        fr.clear_view_demands(self)
        if not self.isVisible():
            return
        if self.focused:
            if is_status_id(self.focused):
                return  # a status tile has no picture
            size = self.focus_tile.size()
            zoom = self.focus_tile.zoom  # zoomed: more pixels, so the crop has real detail
            # the tile stream fills the focus view until the main stream's first frame arrives
            if not self._main_live:
                fr.set_demand(self, self.focused, TILE, *self._zoom_demand(self.focused, TILE, size, zoom))
            if self._main_opened:
                fr.set_demand(self, self.focused, MAIN, *self._zoom_demand(self.focused, MAIN, size, zoom))
            return
        for t in self.tiles:
            cid = t.camera_id
            if cid and not is_status_id(cid):  # status tiles have no picture to scale
                main = self._zoom_main.get(cid, False)
                # a zoomed tile on its main stream keeps its sub-stream at tile size (health, instant fall-back)
                on_main = cid in self._zoom_live
                fr.set_demand(self, cid, TILE, *self._zoom_demand(cid, TILE, t.size(), NO_ZOOM if on_main else t.zoom))
                if main:
                    fr.set_demand(self, cid, MAIN, *self._zoom_demand(cid, MAIN, t.size(), t.zoom))

    def _zoom_demand(self, camera_id: str, variant: str, size, zoom) -> tuple[int, int]:
        """The frame size to ask for: the view's size, times the zoom factor (widgets/zoom.demand_size:
        at most 4096 wide, no larger than the stream's own size once its snapshot knows it)."""
        native = (0, 0)
        if zoom.zoomed:
            p = self.supervisor.pipeline(camera_id, variant)
            snap = p.snapshot() if p is not None else None
            if snap is not None:
                native = (snap.width, snap.height)
        return demand_size(size.width(), size.height(), zoom, native)

    def resizeEvent(self, event) -> None:
        self._place_tiles()

    def showEvent(self, event) -> None:
        self._update_demands()

    def hideEvent(self, event) -> None:
        self.frames.clear_view_demands(self)

    def detach(self) -> None:
        """Stop pulling frames (the view is closing)."""
        if self.focused:
            self.unfocus()
        self._sync_zoom_streams(closing=True)
        self.frames.remove_view(self)

    # ------------------------------------------------------------------ zoom
    def _on_zoom_changed(self, index: int) -> None:
        """A tile zoomed, panned or reset (wheel, drag, double-click): it becomes the selected tile, so the
        keys go on with it; its main stream opens or closes; its demanded size follows the factor."""
        self.interacted.emit()
        if 0 <= index < len(self.tiles):
            self.select(index)
        self._sync_zoom_streams()
        self._update_demands()

    def _sync_zoom_streams(self, closing: bool = False) -> None:
        """Each zoomed wall tile decodes from its camera's main stream (``supervisor.open_main``, counted
        per view like the focus); a tile no longer zoomed, a page or layout change that gave the tile another
        camera (``TileWidget.set_camera`` resets the zoom), a focus (the tiles are hidden) and closing the view
        close what a zoom opened. Called after every change, so the opened set always equals the zoomed set.

        Order matters at a focus hand-over: ``focus_camera`` opens the focus's main stream before this
        closes the zoom's one, ``unfocus`` calls this before closing the focus's one, so a camera zoomed on
        the wall and focused keeps one connection throughout (the supervisor counts views) instead of
        reconnecting.
        """
        want = set()
        if not closing and not self.focused:
            want = {t.camera_id for t in self.tiles if t.camera_id and t.zoom.zoomed and not is_status_id(t.camera_id)}
        for cid in [c for c in self._zoom_main if c not in want]:
            opened = self._zoom_main.pop(cid)
            self._zoom_live.discard(cid)
            self._zoom_down.discard(cid)
            if opened:
                self.supervisor.close_main(cid)
        for cid in sorted(want - set(self._zoom_main)):
            try:
                self._zoom_main[cid] = self.supervisor.open_main(cid) is not None
            except KeyError:  # removed from the config meanwhile
                self._zoom_main[cid] = False

    @property
    def zoomed(self) -> bool:
        """A tile on this view shows part of its picture (the tour holds, like for a focus: a page change
        would take the operator's zoom away)."""
        tiles = [self.focus_tile] if self.focused else self.tiles
        return any(t.zoom.zoomed for t in tiles)

    def zoom_main_streams(self) -> set[str]:
        """Cameras whose main stream this view opened for a zoomed wall tile."""
        return {cid for cid, opened in self._zoom_main.items() if opened}

    def _zoom_key(self, event: QKeyEvent) -> bool:
        """+ or = zooms in, - out, 0 shows the whole picture: the focused camera, else the selected tile.
        With Ctrl, Alt or Meta the key is someone else's (Ctrl+0 and Ctrl+1..9 are the saved views)."""
        if event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier
                                | Qt.KeyboardModifier.MetaModifier):  # fmt: skip
            return False
        key = event.key()
        if key not in (Qt.Key.Key_Plus, Qt.Key.Key_Equal, Qt.Key.Key_Minus, Qt.Key.Key_0):
            return False
        tile = self.focus_tile if self.focused else (self.tiles[self.selected] if self.tiles else None)
        if tile is None:
            return True
        if key == Qt.Key.Key_0:
            tile.reset_zoom()
        else:
            tile.zoom_by(-1 if key == Qt.Key.Key_Minus else 1)
        return True

    # ------------------------------------------------------------------ frames and health (from FrameService)
    def pull_frames(self, fr: FrameService) -> int:
        if self.focused:
            ft = self.focus_tile
            if self._main_opened and fr.pull(ft, self.focused, MAIN):
                if not self._main_live:
                    self._main_live = True
                    self._update_demands()  # the tile stream may stop scaling to the focus size
                    self._apply_focus_snapshot()
                return 1
            if not self._main_live and fr.pull(ft, self.focused, TILE):
                return 1
            return 0
        n = 0
        for t in self.tiles:
            cid = t.camera_id
            if not cid:
                continue
            if self._zoom_main.get(cid) and cid not in self._zoom_down:  # the sub-stream until its first frame
                if fr.pull(t, cid, MAIN):
                    n += 1
                    if cid not in self._zoom_live:
                        self._zoom_live.add(cid)
                        self._update_demands()  # the stream's own size is known now: the demand's cap
                    continue
                if cid in self._zoom_live:
                    continue
            if fr.pull(t, cid):
                n += 1
        return n

    def apply_snapshots(self, snaps: dict[str, HealthSnapshot], only: str | None = None) -> None:
        for t in self.tiles:
            if t.camera_id and (only is None or t.camera_id == only):
                t.set_snapshot(self._snapshot(t.camera_id, snaps))
        if self.focused and (only is None or only == self.focused):
            self._apply_focus_snapshot()
        if self._zoom_main:
            self._check_zoom_mains()

    def _check_zoom_mains(self) -> None:
        """A zoomed tile's main stream that goes down must not leave its last picture on the tile under the
        sub-stream's LIVE badge (the overlay shows the sub-stream's health): the tile falls back to the
        sub-stream, magnified, until the main stream is back (its snapshot is LIVE again only after
        new pictures, so the first one pulled then is new). At the health rate and on each state change."""
        changed = False
        for cid, opened in self._zoom_main.items():
            if not opened:
                continue
            p = self.supervisor.pipeline(cid, MAIN)
            down = p is None or p.snapshot().is_down
            if down and cid not in self._zoom_down:
                self._zoom_down.add(cid)
                self._zoom_live.discard(cid)
                changed = True
            elif not down and cid in self._zoom_down:
                self._zoom_down.discard(cid)
                changed = True
        if changed:
            self._update_demands()

    def apply_motion(self, states: dict, show_boxes: dict[str, bool]) -> None:
        """Motion markers from the motion service's states (``MotionState`` per camera id)."""
        tiles = [*self.tiles, self.focus_tile] if self.focused else self.tiles
        for t in tiles:
            cid = self.focused if t is self.focus_tile else t.camera_id
            st = states.get(cid) if cid else None
            if st is None:
                t.set_motion(False)
                continue
            boxes = tuple((g.x, g.y, g.w, g.h) for g in st.regions) if show_boxes.get(cid) else ()
            t.set_motion(st.active, boxes, tuple(st.labels))

    def apply_recording(self, recording: set[str]) -> None:
        """REC badges: the cameras whose recorder is writing now."""
        for t in [*self.tiles, self.focus_tile]:
            cid = self.focused if t is self.focus_tile else t.camera_id
            t.set_recording(bool(cid) and cid in recording)

    def _apply_focus_snapshot(self) -> None:
        snap = self._snapshot(self.focused, self.frames.snapshots)
        if self._main_live:
            p = self.frames.pipeline(self.focused, MAIN)
            if p is not None:
                snap = p.snapshot()
        self.focus_tile.set_snapshot(snap)

    # ------------------------------------------------------------------ layout, pages
    def set_layout(self, layout: str) -> None:
        if layout == self.arrangement.layout:
            return
        cam = self.selected_camera()
        first = self.page * self.arrangement.capacity
        self.arrangement.layout = layout
        # keep the selected camera (or the first tile of the old page) in view
        pos = self.arrangement.locate(cam) if cam else None
        if pos is None:
            pos = divmod(first, self.arrangement.capacity)
        self.page, self.selected = pos
        self._rebuild()
        self.layout_changed.emit(layout)

    def set_page(self, page: int) -> None:
        page %= self.arrangement.page_count
        if page != self.page:
            self.page = page
            self._rebuild()

    def next_page(self) -> None:
        self.set_page(self.page + 1)

    def previous_page(self) -> None:
        self.set_page(self.page - 1)

    def refresh(self) -> None:
        """The camera list or names changed (camera dialog)."""
        self._rebuild()

    # ------------------------------------------------------------------ selection, swap
    def select(self, index: int) -> None:
        index = max(0, min(index, len(self.tiles) - 1))
        if index != self.selected:
            self.tiles[self.selected].selected = False
            self.tiles[self.selected].update()
            self.selected = index
            self.tiles[index].selected = True
            self.tiles[index].update()
            self.selection_changed.emit(index)

    def selected_camera(self) -> str:
        return self.tiles[self.selected].camera_id if self.tiles else ""

    def move_selection(self, dx: int, dy: int) -> None:
        """Arrows move to the nearest tile on that side by cell geometry (``app.layouts.neighbour``): in a
        spanning layout, Right from the big tile goes to the small tile beside its top row."""
        self.select(neighbour(self.arrangement.layout, self.selected, dx, dy))

    def show_arrangement(self, arrangement: WallArrangement) -> None:
        """Show another arrangement (a named view, or back to all cameras): first page, first tile. The
        demands follow at once (``_rebuild`` places the tiles, which sets them). Emits ``layout_changed``
        only if the layout differs (menu check marks), never ``arrangement_changed`` (nothing was edited)."""
        if self.focused:
            self.unfocus()
        old_layout = self.arrangement.layout
        if self.status_snapshots:
            arrangement.set_status_ids(list(self.status_snapshots))  # the all-cameras wall keeps its status tiles
        self.arrangement = arrangement
        self.page = 0
        self.selected = 0
        self._rebuild()
        for t in self.tiles:
            t.selected = t.index == 0
            t.update()
        self.selection_changed.emit(0)
        if arrangement.layout != old_layout:
            self.layout_shown.emit(arrangement.layout)

    def swap_tiles(self, a: int, b: int) -> None:
        self.interacted.emit()
        if not self.arrangement.swap(self.page, a, b):
            return  # a status tile's place follows the cameras; it is not moved
        self._rebuild()
        self.select(b)
        self.arrangement_changed.emit()

    def place_cameras(self, tile_index: int, ids: list[str]) -> bool:
        """Cameras from the camera tree onto tile *tile_index* of this page: one id is placed there (swapped
        with the tile's camera when it is elsewhere on the wall), several fill the page from its first tile
        (``WallArrangement.place`` / ``fill_page``). Goes through ``self.arrangement`` only (a named view may
        have swapped it) and emits ``arrangement_changed`` for the window to save. A focused wall returns to
        the grid first, so the operator sees where the camera went. False when nothing changed."""
        self.interacted.emit()
        if not ids or not 0 <= tile_index < len(self.tiles):
            return False
        if self.focused:
            self.unfocus()
        arr = self.arrangement
        changed = arr.place(self.page, tile_index, ids[0]) if len(ids) == 1 else arr.fill_page(self.page, ids)
        if not changed:
            return False
        self._rebuild()
        self.select(tile_index if len(ids) == 1 else 0)
        self.arrangement_changed.emit()
        return True

    def _on_tile_clicked(self, index: int) -> None:
        self.interacted.emit()
        self.select(index)
        self.setFocus(Qt.FocusReason.MouseFocusReason)

    def _on_tile_activated(self, index: int) -> None:
        self.select(index)
        cid = self.tiles[index].camera_id
        if cid:
            self.focus_camera(cid)
        else:
            self.add_requested.emit(self.page * self.arrangement.capacity + index)

    # ------------------------------------------------------------------ focus
    def focus_camera(self, camera_id: str) -> None:
        """Fill the wall with one camera; switch to its main stream if it has a sub-stream."""
        self.interacted.emit()
        if self.focused:
            self.unfocus()
        name, group = self._tile_names(camera_id)
        ft = self.focus_tile
        ft.set_camera(camera_id, name, group)
        ft.show_overlay = self.show_overlay
        src = next((t for t in self.tiles if t.camera_id == camera_id), None)
        if src is not None and src.has_picture():
            ft.copy_picture_from(src)  # instant: the current picture, scaled; sharper frames follow
            ft.source, ft.last_seq = src.source, src.last_seq
        self.focused = camera_id
        self._main_live = False
        self._main_opened = False
        if not is_status_id(camera_id):  # a status tile has no stream to exempt or open
            self.frames.exempt(camera_id, True)
            try:
                self._main_opened = self.supervisor.open_main(camera_id) is not None
            except KeyError:
                self._main_opened = False
        self._sync_zoom_streams()  # after open_main: a zoomed wall tile of this camera hands over its connection
        for t in self.tiles:
            t.hide()
        ft.show()
        self._place_tiles()  # the focus view fills the wall below the banner, if one shows
        ft.raise_()
        self.banner.raise_()
        self._apply_focus_snapshot()
        self.focus_changed.emit(camera_id)

    def unfocus(self) -> None:
        if not self.focused:
            return
        cid = self.focused
        self.focused = ""
        if not is_status_id(cid):
            self.frames.exempt(cid, False)
        self._sync_zoom_streams()  # before close_main: the wall's zoomed tiles reopen (or keep) their main streams
        if self._main_opened:
            self.supervisor.close_main(cid)
        self._main_opened = self._main_live = False
        self.focus_tile.hide()
        self.focus_tile.set_camera("", "", "")
        for t in self.tiles:
            t.show()
        self._update_demands()
        self.focus_changed.emit("")

    @property
    def main_stream_live(self) -> bool:
        return self._main_live

    # ------------------------------------------------------------------ overlay, menu, keys
    def set_overlay_visible(self, on: bool) -> None:
        self.show_overlay = on
        for t in [*self.tiles, self.focus_tile]:
            t.show_overlay = on
            t.update()

    def _context_menu(self, camera_id: str, pos: QPoint) -> None:
        self.interacted.emit()
        if not camera_id:
            return
        menu = QMenu(self)
        if self.focused:
            menu.addAction("Back to the wall (Esc)", self.unfocus)
        else:
            menu.addAction("Focus (Enter)", lambda: self.focus_camera(camera_id))
        if not is_status_id(camera_id):  # status tiles decode nothing
            kf = self.frames.forced_keyframes(camera_id)
            act = menu.addAction("Keyframes only (save CPU)")
            act.setCheckable(True)
            act.setChecked(kf)
            act.toggled.connect(lambda on: self.frames.set_forced_keyframes(camera_id, on))
        for hook in self.context_menu_hooks:
            try:
                hook(menu, camera_id)
            except Exception:
                log.exception("tile context menu hook failed")
        menu.popup(pos)
        self._last_menu = menu

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        self.interacted.emit()
        if self._zoom_key(event):
            return
        if self.focused:
            if key in (Qt.Key.Key_Escape, Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Backspace):
                self.unfocus()
                return
            if key == Qt.Key.Key_O:
                self.set_overlay_visible(not self.show_overlay)
                return
            super().keyPressEvent(event)
            return
        moves = {Qt.Key.Key_Left: (-1, 0), Qt.Key.Key_Right: (1, 0), Qt.Key.Key_Up: (0, -1), Qt.Key.Key_Down: (0, 1)}
        if key in moves:
            self.move_selection(*moves[key])
        elif key in (Qt.Key.Key_Return, Qt.Key.Key_Enter):
            cid = self.selected_camera()
            if cid:
                self.focus_camera(cid)
        elif key in LAYOUT_FOR_KEY and not event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            self.set_layout(LAYOUT_FOR_KEY[key])
        elif key == Qt.Key.Key_PageDown:
            self.next_page()
        elif key == Qt.Key.Key_PageUp:
            self.previous_page()
        elif key == Qt.Key.Key_O:
            self.set_overlay_visible(not self.show_overlay)
        else:
            super().keyPressEvent(event)
