"""Help: the keyboard and mouse sheet (F1, "?") and About Vigil (versions and where the files are).

The sheet is built from ``widgets.shortcuts.SHORTCUTS``, the one list every key is written in, so what it
promises is what the window does (``tests/widgets/test_help.py`` checks the menu keys against the window's
actions). Both windows are non-modal: an operator keeps watching the wall with the sheet open beside it, and
pressing F1 again raises the open sheet instead of stacking a second one.

Sizes follow the main window's height (``help_font_px``: 1/54 of it, 16 to 40 px), so the sheet is as
readable on a 4K wall monitor as on a 1080p desk screen: 20 px at 1080 lines, 40 px at 2160.
"""

from __future__ import annotations

import platform
import sqlite3
from importlib import metadata

from PySide6 import __version__ as pyside_version
from PySide6.QtCore import Qt, qVersion
from PySide6.QtGui import QFont
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QDialogButtonBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from widgets.shortcuts import SHORTCUTS, Shortcut, grouped


def help_font_px(window_height: int) -> int:
    """Text size of the help windows for a main window *window_height* px high: 1/54 of it, 16-40 px."""
    return max(16, min(40, round(window_height / 54)))


def vigil_version() -> str:
    """The installed package's version (a wheel or the bundle), else the source tree's ``app.__version__``."""
    try:
        return metadata.version("vigil")
    except metadata.PackageNotFoundError:
        from app import __version__

        return __version__


def ffmpeg_version() -> str:
    """ "FFmpeg 8.1.2 (libavcodec 62.28.102, libavformat 62.12.102, …)": the FFmpeg PyAV is built against."""
    import av

    libs = ", ".join(f"{name} {'.'.join(map(str, v))}" for name, v in sorted(av.library_versions.items()))
    release = getattr(av, "ffmpeg_version_info", "") or "libraries"
    return f"FFmpeg {release} ({libs})"


def opencv_version() -> str:
    try:
        import cv2
    except ImportError:
        return "not installed (motion classification is off)"
    return cv2.__version__


def about_facts(paths) -> list[tuple[str, str]]:
    """(what, value) lines of About Vigil: the versions a support call asks for, then where the files are."""
    import av

    facts = [
        ("Vigil", vigil_version()),
        ("Python", platform.python_version()),
        ("Qt", qVersion()),
        ("PySide6", pyside_version),
        ("PyAV", av.__version__),
        ("FFmpeg", ffmpeg_version().removeprefix("FFmpeg ")),
        ("SQLite", sqlite3.sqlite_version),
        ("OpenCV", opencv_version()),
    ]
    if paths is not None:
        facts += [
            ("Configuration file", str(paths.config_file)),
            ("History and data folder", str(paths.data_dir)),
            ("Recordings folder", str(paths.recordings_dir)),
            ("Log files folder", str(paths.log_dir)),
        ]
    return facts


def _table(rows: list[tuple[str, str, bool]], px: int, parent: QWidget) -> QTableWidget:
    """A read-only two-column table; rows with the flag set are group headings spanning both columns."""
    table = QTableWidget(len(rows), 2, parent)
    table.horizontalHeader().hide()
    table.verticalHeader().hide()
    table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    table.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
    table.setFocusPolicy(Qt.FocusPolicy.NoFocus)
    table.setShowGrid(False)
    table.setWordWrap(True)
    font = QFont(table.font())
    font.setPixelSize(px)
    table.setFont(font)
    bold = QFont(font)
    bold.setBold(True)
    heading = QFont(bold)
    heading.setPixelSize(round(px * 1.15))
    for row, (left, right, is_heading) in enumerate(rows):
        a = QTableWidgetItem(left)
        if is_heading:
            a.setFont(heading)
            a.setForeground(Qt.GlobalColor.white)
            table.setItem(row, 0, a)
            table.setSpan(row, 0, 1, 2)
            continue
        a.setFont(bold)
        a.setForeground(Qt.GlobalColor.white)
        b = QTableWidgetItem(right)
        table.setItem(row, 0, a)
        table.setItem(row, 1, b)
    table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
    table.horizontalHeader().setStretchLastSection(True)
    # wrapped rows are as tall as their text at the column's width: measured again whenever it changes (at
    # construction the table has Qt's default width, and rows measured then stay several lines too tall)
    table.horizontalHeader().sectionResized.connect(lambda *_: fit_rows(table, px))
    fit_rows(table, px)
    return table


def fit_rows(table: QTableWidget, px: int) -> int:
    """Rows as tall as their wrapped text plus some air (a dense table is hard to follow across a room),
    headings with more above them; returns the table's content height."""
    pad = round(px * 0.4)
    table.resizeRowsToContents()
    for row in range(table.rowCount()):
        heading = table.columnSpan(row, 0) > 1
        table.setRowHeight(row, table.rowHeight(row) + (3 * pad if heading else pad))
    return sum(table.rowHeight(r) for r in range(table.rowCount())) + 2 * table.frameWidth()


def _split(groups: list, parts: int = 2) -> list[list]:
    """*groups* (in order) into *parts* consecutive runs of about equal rows (heading + entries each), so the
    sheet is two tables side by side and fits a 1080p screen without scrolling."""
    sizes = [1 + len(items) for _, items in groups]
    total, out, run, acc = sum(sizes), [], [], 0
    for (g, items), n in zip(groups, sizes, strict=True):
        if run and len(out) < parts - 1 and acc + n / 2 > total * (len(out) + 1) / parts:
            out.append(run)
            run = []
        run.append((g, items))
        acc += n
    return [*out, run]


class ShortcutSheet(QDialog):
    """Help ▸ Keyboard and mouse: every key and gesture, grouped (Wall, Focus, Views, Zoom, Replay, Alarms,
    Window). Non-modal; a table, so the keys line up in one column and read down at a glance."""

    def __init__(self, parent: QWidget | None = None, entries: tuple[Shortcut, ...] = SHORTCUTS) -> None:
        super().__init__(parent)
        self.setObjectName("shortcut-sheet")
        self.setWindowTitle("Keyboard and mouse — Vigil")
        self.setModal(False)
        height = parent.window().height() if parent is not None else 1080
        px = help_font_px(height)
        self.groups = grouped(entries)
        self._px = px
        self._fitted = False
        self._max_height = round(height * 0.92)
        lay = QVBoxLayout(self)
        intro = QLabel("Keys work while the wall has the keyboard (click a picture first). "
                       "Press F1 or ? on the wall to see this list again.", self)  # fmt: skip
        intro.setWordWrap(True)
        f = QFont(intro.font())
        f.setPixelSize(px)
        intro.setFont(f)
        lay.addWidget(intro)
        columns = QHBoxLayout()
        self.tables: list[QTableWidget] = []
        longest = 0
        for part in _split(self.groups):
            rows: list[tuple[str, str, bool]] = []
            for group, items in part:
                rows.append((group, "", True))
                rows += [(e.keys, e.what, False) for e in items]
            longest = max(longest, len(rows))
            table = _table(rows, px, self)
            self.tables.append(table)
            columns.addWidget(table, 1)
        self.table = self.tables[0]
        lay.addLayout(columns, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        buttons.button(QDialogButtonBox.StandardButton.Close).setFont(f)
        lay.addWidget(buttons)
        # two tables of ~40 characters each; a row is ~1.6 text heights (plus the intro and the button)
        self.resize(px * 88, min(round(height * 0.92), round(px * 2 * (longest + 7))))

    def showEvent(self, event) -> None:
        """At the first show the columns have their real widths: fit the rows, then the sheet to them (no
        empty half-screen under a short list, no scroll bar over a long one while the screen has room)."""
        super().showEvent(event)
        if self._fitted:
            return
        self._fitted = True
        content = max(fit_rows(t, self._px) for t in self.tables)
        extra = self.height() - self.table.height()  # intro, button, margins
        self.resize(self.width(), min(self._max_height, content + extra + 4))

    def texts(self) -> list[tuple[str, str]]:
        """(keys, what) of every row as shown, left table then right (group headings: empty second column)."""
        out = []
        for table in self.tables:
            for row in range(table.rowCount()):
                a, b = table.item(row, 0), table.item(row, 1)
                out.append((a.text() if a else "", b.text() if b else ""))
        return out


class AboutDialog(QDialog):
    """Help ▸ About Vigil: the versions a support call asks for (Vigil, Python, Qt, PySide6, PyAV, FFmpeg,
    SQLite, OpenCV) and where the configuration, history, recordings and logs are; selectable, so they can
    be copied into a ticket."""

    def __init__(self, paths, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("about-vigil")
        self.setWindowTitle("About Vigil")
        self.setModal(False)
        height = parent.window().height() if parent is not None else 1080
        px = help_font_px(height)
        self.facts = about_facts(paths)
        lay = QVBoxLayout(self)
        title = QLabel("Vigil — video wall for control rooms", self)
        tf = QFont(title.font())
        tf.setPixelSize(round(px * 1.3))
        tf.setBold(True)
        title.setFont(tf)
        lay.addWidget(title)
        rows = [("Versions", "", True)] + [(k, v, False) for k, v in self.facts[:8]]
        if len(self.facts) > 8:
            rows += [("Where the files are", "", True)] + [(k, v, False) for k, v in self.facts[8:]]
        self.table = _table(rows, px, self)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ContiguousSelection)  # copy into a ticket
        lay.addWidget(self.table, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        buttons.rejected.connect(self.close)
        bf = QFont(buttons.font())
        bf.setPixelSize(px)
        buttons.button(QDialogButtonBox.StandardButton.Close).setFont(bf)
        lay.addWidget(buttons)
        self._px, self._fitted, self._max_height = px, False, round(height * 0.92)
        self.resize(px * 72, min(self._max_height, px * 2 * (len(rows) + 5)))

    def showEvent(self, event) -> None:
        """Rows fitted once the columns have their real widths, then the window to them (as the sheet)."""
        super().showEvent(event)
        if self._fitted:
            return
        self._fitted = True
        extra = self.height() - self.table.height()
        self.resize(self.width(), min(self._max_height, fit_rows(self.table, self._px) + extra + 4))

    def text(self) -> str:
        return "\n".join(f"{k}: {v}" for k, v in self.facts)
