"""The "Cameras" dock: every configured camera by site and group, its state word, a search box; drag a camera
or a group onto the wall.

Rules (levels, order, words, search) are in :mod:`widgets.camera_groups` (no Qt); this widget adapts them.

Cheap by design, because it runs on the wall's GUI thread at the health rate (2 Hz, ``FrameService.
health_updated``): each tick computes every camera's row state and touches only the rows whose word, colour
or reason changed (``setText``/``setIcon``/``setToolTip`` on one item, no model reset), and the group rows
above them. The tree is rebuilt only when the camera list (ids, names, groups, on/off) changed; the runtime
replaces its config object on every apply, so an unchanged list costs one identity check per tick.

Drag and drop: the tree is a drag source only (``DragOnly``) offering a COPY: with a move, Qt's item view
removes the dragged rows itself once the drop target accepts. The payload is ``CAMERAS_MIME``, a JSON list of
camera ids (``widgets.tile``): a camera row gives its id, a site or group row its cameras that the search
shows, in tree order (by name). The wall decides what a drop means (``WallView.place_cameras``).
"""

from __future__ import annotations

import html
import json
from collections import Counter

from PySide6.QtCore import QEvent, QMimeData, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QIcon, QKeyEvent, QPainter, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from app.pipeline.state import HealthSnapshot, StreamState
from widgets.camera_groups import CameraEntry, RowState, entries, ids_under, matches, row_state
from widgets.overlay_text import STATE_COLORS
from widgets.tile import CAMERAS_MIME

ID_ROLE = Qt.ItemDataRole.UserRole  # a camera row's id
PATH_ROLE = Qt.ItemDataRole.UserRole + 1  # a site/group row's path (tuple of levels)
SEARCH_HINT = "Search: name, group or state"
SEARCH_TIP = (
    "Search cameras by name, site, group or state word (LIVE, OFFLINE, DISABLED…; 'down' finds every camera "
    "without pictures). Down arrow: into the list."
)
NO_CAMERAS = "No cameras yet. Add one with Cameras > Manage cameras… (Ctrl+M)."
LIVE_WORD = StreamState.LIVE.value
WIDTH_CHARS = 44  # the dock's preferred width, in average characters of its font
MIN_WIDTH_CHARS = 30


def _dot(color: str, px: int) -> QIcon:
    """A filled circle in the state colour (built on the GUI thread, cached per colour and size)."""
    key = (color, px)
    icon = _DOTS.get(key)
    if icon is None:
        pm = QPixmap(px, px)
        pm.fill(Qt.GlobalColor.transparent)
        p = QPainter(pm)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        p.setPen(Qt.PenStyle.NoPen)
        p.setBrush(QColor(color))
        p.drawEllipse(1, 1, px - 2, px - 2)
        p.end()
        icon = _DOTS[key] = QIcon(pm)
    return icon


_DOTS: dict[tuple[str, int], QIcon] = {}


class _SearchBox(QLineEdit):
    """Down arrow (or Enter) moves into the list."""

    into_list = Signal()

    def keyPressEvent(self, event: QKeyEvent) -> None:
        if event.key() in (Qt.Key.Key_Down, Qt.Key.Key_Return, Qt.Key.Key_Enter):
            self.into_list.emit()
            return
        super().keyPressEvent(event)


class _TreeView(QTreeWidget):
    """The list: a copy-only drag source; Enter places, typing goes to the search box."""

    def __init__(self, owner: CameraTree) -> None:
        super().__init__(owner)
        self._owner = owner

    def mimeTypes(self) -> list[str]:
        return [CAMERAS_MIME]

    def mimeData(self, items) -> QMimeData:
        mime = QMimeData()
        mime.setData(CAMERAS_MIME, json.dumps(self._owner.ids_of(list(items))).encode())
        return mime

    def supportedDropActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction  # also the drag's actions: never a move (see the module docstring)

    def keyPressEvent(self, event: QKeyEvent) -> None:
        key = event.key()
        item = self.currentItem()
        if key in (Qt.Key.Key_Return, Qt.Key.Key_Enter) and item is not None:
            if item.data(0, ID_ROLE):
                self._owner.place_requested.emit([item.data(0, ID_ROLE)])
            else:
                item.setExpanded(not item.isExpanded())
            return
        text = event.text()
        ctrl = event.modifiers() & (Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
        if not ctrl and (key == Qt.Key.Key_Backspace or (text and text.isprintable() and not text.isspace())):
            self._owner.type_into_search(event)
            return
        super().keyPressEvent(event)


class CameraTree(QWidget):
    """Cameras by site/group with state words; drag onto the wall, or Enter/double-click to place on the
    wall's selected tile (``place_requested``, connected by the main window)."""

    place_requested = Signal(list)  # camera ids for the wall's selected tile

    def __init__(self, cameras: list | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("cameraTree")
        # no font of its own: the text follows the application font (View > Interface size)
        self.search = _SearchBox(self)
        self.search.setPlaceholderText(SEARCH_HINT)
        self.search.setToolTip(SEARCH_TIP)
        self.search.setClearButtonEnabled(True)
        self.search.textChanged.connect(lambda _t: self._apply_filter())
        self.search.into_list.connect(self._into_list)
        self.view = _TreeView(self)
        self.view.setColumnCount(2)
        self.view.setHeaderLabels(["Camera", "State"])
        self.view.setRootIsDecorated(True)
        self.view.setUniformRowHeights(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragEnabled(True)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setDefaultDropAction(Qt.DropAction.CopyAction)
        self.view.setAcceptDrops(False)
        head = self.view.header()
        head.setStretchLastSection(False)
        head.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        head.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        self.view.setIndentation(max(12, self.fontMetrics().height()))
        self._dot_px = 0
        self._size_dots()
        self.view.itemDoubleClicked.connect(self._on_double_click)
        self.note = QLabel(self)  # "no camera matches …" / "no cameras yet"
        self.note.setWordWrap(True)
        self.note.setTextFormat(Qt.TextFormat.PlainText)  # a typed search is never HTML
        self.note.setStyleSheet("color: #aeb6c2; padding: 8px;")
        self.note.hide()
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.setSpacing(4)
        lay.addWidget(self.search)
        lay.addWidget(self.note)
        lay.addWidget(self.view, 1)
        # only the weight is set: the delegate resolves the rest from the view's font, so an interface
        # size change reaches these rows too
        self._bold = QFont()
        self._bold.setBold(True)
        self._cameras_obj: object = None  # the config's camera list last seen (identity: replaced on apply)
        self._entries: list[CameraEntry] = []
        self._by_id: dict[str, CameraEntry] = {}
        self._items: dict[str, QTreeWidgetItem] = {}  # camera id -> row
        self._groups: dict[tuple[str, ...], QTreeWidgetItem] = {}  # path -> site/group row
        self._states: dict[str, RowState] = {}
        self._snaps: dict[str, HealthSnapshot] = {}
        self.row_updates: Counter[str] = Counter()  # camera id -> times its row was touched (cheapness, tests)
        self.rebuilds = 0
        self.set_cameras(cameras or [])

    def sizeHint(self) -> QSize:
        """Wide enough for a long camera name and "1 of 12 not live" at the text size in force."""
        return QSize(self.fontMetrics().averageCharWidth() * WIDTH_CHARS, super().sizeHint().height())

    def _size_dots(self) -> bool:
        # the dock never gets so narrow that names vanish, whatever the interface size
        self.setMinimumWidth(self.fontMetrics().averageCharWidth() * MIN_WIDTH_CHARS)
        px = max(10, self.fontMetrics().height() * 3 // 4)
        if px == self._dot_px:
            return False
        self._dot_px = px
        self.view.setIconSize(QSize(px, px))
        return True

    def changeEvent(self, event) -> None:
        """The interface size changed: state dots follow the text (rare: every row's icon is set again)."""
        super().changeEvent(event)
        if event.type() == QEvent.Type.FontChange and self._size_dots():
            self.view.setIndentation(max(12, self.fontMetrics().height()))
            for cid, st in self._states.items():
                self._items[cid].setIcon(1, _dot(st.color, self._dot_px))
            for path, it in self._groups.items():
                it.setText(1, "")
                self._update_group(path)

    # ------------------------------------------------------------------ data in
    def refresh(self, cameras: list, snaps: dict[str, HealthSnapshot]) -> None:
        """One health tick: follow the camera list (rebuild only if it changed), then the states."""
        if cameras is not self._cameras_obj:
            self.set_cameras(cameras)
        self.apply_snapshots(snaps)

    def set_cameras(self, cameras: list) -> bool:
        """The configured cameras; rebuilds the tree (keeping collapsed groups and the selection) only when
        ids, names, groups or on/off changed. True if it rebuilt."""
        self._cameras_obj = cameras
        new = entries(cameras)
        if new == self._entries and self._items:
            return False
        collapsed = {p for p, it in self._groups.items() if not it.isExpanded()}
        selected = set(self.selected_ids())
        self._entries = new
        self._by_id = {e.camera_id: e for e in new}
        self.view.clear()
        self._items.clear()
        self._groups.clear()
        self._states.clear()
        for e in new:
            parent = self._group_item(e.path)
            it = QTreeWidgetItem(parent, [e.name, ""])
            it.setData(0, ID_ROLE, e.camera_id)
            it.setFont(1, self._bold)
            self._items[e.camera_id] = it
        for path, it in self._groups.items():
            it.setExpanded(path not in collapsed)
        for cid in selected & set(self._items):
            self._items[cid].setSelected(True)
        self.rebuilds += 1
        self.apply_snapshots(self._snaps)
        self._apply_filter()
        return True

    def _group_item(self, path: tuple[str, ...]) -> QTreeWidgetItem:
        for n in range(1, len(path) + 1):
            sub = path[:n]
            if sub not in self._groups:
                parent = self._groups[sub[:-1]] if n > 1 else self.view.invisibleRootItem()
                it = QTreeWidgetItem(parent, [sub[-1], ""])
                it.setData(0, PATH_ROLE, sub)
                it.setFont(0, self._bold)
                it.setFirstColumnSpanned(False)
                self._groups[sub] = it
        return self._groups[path]

    def apply_snapshots(self, snaps: dict[str, HealthSnapshot]) -> None:
        """Health tick: only rows whose word, colour or reason changed are touched, and their group rows."""
        self._snaps = snaps
        changed: list[CameraEntry] = []
        for e in self._entries:
            st = row_state(e, snaps.get(e.camera_id))
            old = self._states.get(e.camera_id)
            if st == old:
                continue
            self._states[e.camera_id] = st
            it = self._items[e.camera_id]
            if old is None or st.word != old.word or st.color != old.color or st.emphasis != old.emphasis:
                it.setText(1, st.word)
                it.setIcon(1, _dot(st.color, self._dot_px))
                # a down camera's word in the tile stamp's light colour; the others in the normal text colour
                it.setData(1, Qt.ItemDataRole.ForegroundRole, QColor(st.emphasis) if st.emphasis else None)
            group = " / ".join(e.path)
            tip = f"{e.name} ({group}): {st.reason}"
            it.setToolTip(0, f"<p>{html.escape(tip)}</p>")  # tooltips guess HTML: a device's words are escaped
            it.setToolTip(1, f"<p>{html.escape(tip)}</p>")
            self.row_updates[e.camera_id] += 1
            if old is None or st.word != old.word or st.search != old.search:
                changed.append(e)
        if not changed:
            return
        paths = {e.path[:n] for e in changed for n in range(1, len(e.path) + 1)}
        for path in paths:
            self._update_group(path)
        if self.search.text().strip():
            self._apply_filter()  # a state word is searchable: "offline" follows the cameras

    def _update_group(self, path: tuple[str, ...]) -> None:
        """A group row's summary: "all 4 live", or "1 of 4 not live" in amber."""
        ids = ids_under(self._entries, path)
        words = [self._states[c].word for c in ids if c in self._states]
        on = [w for w in words if w != "DISABLED"]
        live = sum(w == LIVE_WORD for w in on)
        it = self._groups[path]
        if not on:
            text, color = "all off", STATE_COLORS[StreamState.IDLE]
        elif live == len(on):
            text, color = f"all {live} live", STATE_COLORS[StreamState.LIVE]
        else:
            text, color = f"{len(on) - live} of {len(on)} not live", STATE_COLORS[StreamState.STALLED]
        if it.text(1) != text:
            it.setText(1, text)
            it.setIcon(1, _dot(color, self._dot_px))
            it.setToolTip(1, f"<p>{html.escape(' / '.join(path))}: {html.escape(text)}</p>")

    # ------------------------------------------------------------------ search
    def _apply_filter(self) -> None:
        q = self.search.text().strip()
        any_shown = False
        for e in self._entries:
            st = self._states.get(e.camera_id)
            show = matches(q, e, f"{st.word} {st.search}" if st else "")
            self._items[e.camera_id].setHidden(not show)
            any_shown |= show
        # deepest groups first: a group shows when any row under it does
        for path in sorted(self._groups, key=len, reverse=True):
            it = self._groups[path]
            shown = any(not it.child(i).isHidden() for i in range(it.childCount()))
            it.setHidden(not shown)
            if q and shown:
                it.setExpanded(True)
        if not self._entries:
            self.note.setText(NO_CAMERAS)
        elif not any_shown:
            self.note.setText(f"No camera matches “{q}”.")
        self.note.setVisible(not self._entries or not any_shown)

    def visible_ids(self) -> list[str]:
        """Camera ids the search shows, in tree order."""
        return [e.camera_id for e in self._entries if not self._items[e.camera_id].isHidden()]

    def type_into_search(self, event: QKeyEvent) -> None:
        """Typing in the list goes to the search box (the key is replayed there)."""
        self.search.setFocus(Qt.FocusReason.OtherFocusReason)
        self.search.keyPressEvent(event)

    def _into_list(self) -> None:
        self.view.setFocus(Qt.FocusReason.OtherFocusReason)
        cur = self.view.currentItem()
        if cur is None or cur.isHidden():
            ids = self.visible_ids()
            if ids:
                self.view.setCurrentItem(self._items[ids[0]])

    # ------------------------------------------------------------------ drag and place
    def ids_of(self, items: list[QTreeWidgetItem]) -> list[str]:
        """Camera ids of rows: a camera row its id, a site/group row its shown cameras in tree order."""
        shown = set(self.visible_ids())
        out: dict[str, None] = {}
        for it in items:
            cid = it.data(0, ID_ROLE)
            if cid:
                out[cid] = None
                continue
            path = it.data(0, PATH_ROLE)
            if path:
                for c in ids_under(self._entries, tuple(path)):
                    if c in shown:
                        out[c] = None
        return list(out)

    def selected_ids(self) -> list[str]:
        return self.ids_of(self.view.selectedItems()) if self._items else []

    def item(self, camera_id: str) -> QTreeWidgetItem | None:
        return self._items.get(camera_id)

    def group_item(self, *path: str) -> QTreeWidgetItem | None:
        return self._groups.get(tuple(path))

    def state_word(self, camera_id: str) -> str:
        st = self._states.get(camera_id)
        return st.word if st else ""

    def _on_double_click(self, item: QTreeWidgetItem, _column: int) -> None:
        cid = item.data(0, ID_ROLE)
        if cid:
            self.place_requested.emit([cid])
