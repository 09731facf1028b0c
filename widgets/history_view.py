"""History view: per-camera charts (fps, bitrate, latency), state timeline bands, events, availability, and a
wall-level summary (cameras down longest). Also the "Export history…" action.

All data comes from one background query (``Store.query(repository.history_bundle, ...)``) on a store
reader thread; the view's :class:`~widgets.tasks.TaskRunner` hands the result (a frozen
``HistoryBundle``) to the GUI thread, and drops it if the view was closed meanwhile. Repeated requests
are merged: only the newest request's answer is drawn (the ``mandelbrot`` example's habit).
"""

from __future__ import annotations

import html
import logging
import time
from pathlib import Path

from PySide6.QtCore import QDateTime, Qt
from PySide6.QtWidgets import (
    QComboBox,
    QDateTimeEdit,
    QDialog,
    QDialogButtonBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.store import repository
from app.store.export import export_history
from widgets.arrangement import is_status_id
from widgets.tasks import TaskRunner

log = logging.getLogger(__name__)


def _pg():
    """pyqtgraph, imported when the first history window opens: it is half a second of the wall's start-up."""
    import pyqtgraph

    return pyqtgraph


RANGES = {"Last hour": 3600, "Last 6 hours": 6 * 3600, "Last 24 hours": 86400, "Last 7 days": 7 * 86400,
          "Last 30 days": 30 * 86400}  # fmt: skip
STATE_COLORS = {"LIVE": "#2e7d32", "CONNECTING": "#f9a825", "STALLED": "#ef6c00", "OFFLINE": "#c62828",
                "ERROR": "#6a1b9a", "IDLE": "#455a64"}  # fmt: skip


# the charts' titles: what is drawn and its unit, in words (the axis adds no SI factor of its own)
CHART_TITLES = {"fps": "Frames per second", "bitrate": "Bitrate, Mbit/s", "latency": "Delay, ms", "states": "State"}
# how the store condensed the samples of a range (app.store.repository.choose_resolution)
RESOLUTION_WORDS = {"raw": "every sample", "1m": "averaged per minute", "1h": "averaged per hour"}


def series_words(samples: int, resolution: str, changes: int, outages: int) -> str:
    """ "720 samples (every sample), 3 changes of state, 1 outage": the status line under the charts."""

    def n(k: int, one: str, many: str) -> str:
        return f"{k} {one if k == 1 else many}"

    how = RESOLUTION_WORDS.get(resolution, resolution)
    return (f"{n(samples, 'sample', 'samples')} ({how}), {n(changes, 'change', 'changes')} of state, "
            f"{n(outages, 'outage', 'outages')}")  # fmt: skip


class HistoryView(QWidget):
    def __init__(self, store, cameras: list[tuple[str, str]], clock=time.time, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.clock = clock
        self._request = 0
        self.bundle = None
        self.summary_rows: tuple = ()
        self.names = {cid: name for cid, name in cameras if name}  # summaries say names, not ids
        self._tasks = TaskRunner(parent=self, name="ui:history")  # hands the store's answers over; no threads

        self.camera = QComboBox(self)
        for cid, name in cameras:
            self.camera.addItem(name or cid, cid)
        self.range = QComboBox(self)
        self.range.addItems(list(RANGES))
        self.status = QLabel(self)
        self.status.setTextFormat(Qt.TextFormat.PlainText)  # database errors and device reasons are never HTML
        self.availability = QLabel(self)
        top = QHBoxLayout()
        for w in (QLabel("Camera"), self.camera, QLabel("Range"), self.range, self.availability):
            top.addWidget(w)
        top.addStretch(1)

        axis = lambda: _pg().DateAxisItem(orientation="bottom")  # noqa: E731
        self.plots: dict = {}  # name -> pyqtgraph PlotWidget
        charts = QWidget(self)
        cl = QVBoxLayout(charts)
        for key, title in CHART_TITLES.items():
            pw = _pg().PlotWidget(axisItems={"bottom": axis()})
            pw.setLabel("left", title)
            pw.getAxis("left").enableAutoSIPrefix(False)  # no "(x0.001)": the unit is in the title, in words
            pw.setMouseEnabled(y=False)
            if key == "states":
                pw.setMaximumHeight(90)
                pw.getAxis("left").setTicks([[]])
            if self.plots:
                pw.setXLink(next(iter(self.plots.values())))
            self.plots[key] = pw
            cl.addWidget(pw)
        self.events = QTableWidget(0, 3, self)
        self.events.setHorizontalHeaderLabels(["Time", "Change", "Why"])
        self.events.horizontalHeader().setStretchLastSection(True)
        self.summary = QTableWidget(0, 4, self)
        self.summary.setHorizontalHeaderLabels(["Camera", "Time down", "Outages", "Available"])
        self.summary.horizontalHeader().setStretchLastSection(True)
        tabs = QTabWidget(self)
        tabs.addTab(charts, "Charts")
        tabs.addTab(self.events, "Events")
        tabs.addTab(self.summary, "Wall summary")
        lay = QVBoxLayout(self)
        lay.addLayout(top)
        lay.addWidget(tabs, 1)
        lay.addWidget(self.status)
        self.camera.currentIndexChanged.connect(lambda *_: self.reload())
        self.range.currentIndexChanged.connect(lambda *_: self.reload())
        self.reload()

    def current_range(self) -> tuple[float, float]:
        end = self.clock()
        return end - RANGES[self.range.currentText()], end

    def reload(self) -> None:
        """Ask the store (reader thread) for the current camera/range; never waits."""
        self._request += 1
        req = self._request
        start, end = self.current_range()
        cid = self.camera.currentData()
        self.status.setText("loading…")

        def failed(e: BaseException) -> None:  # shown in words, the view keeps working
            self.status.setText(f"history could not be read: {e}")

        try:
            if cid:
                bundle = self.store.query(repository.history_bundle, cid, start, end, end)
                self._tasks.when_done(bundle, lambda b: self._show_bundle(req, b), failed)
            summary = self.store.query(repository.downtime_summary, start, end, None, end)
            self._tasks.when_done(summary, lambda rows: self._show_summary(req, rows), failed)
        except Exception as e:
            self.status.setText(f"history is not available: {e}")

    def _show_bundle(self, req: int, b) -> None:
        if req != self._request:
            return  # an older answer: a newer request is on its way
        self.bundle = b
        xs = [p.at for p in b.series.points]
        for key, ys in (("fps", [p.fps for p in b.series.points]),
                        ("bitrate", [p.bitrate_bps / 1e6 for p in b.series.points]),
                        ("latency", [p.latency_ms for p in b.series.points])):  # fmt: skip
            pw = self.plots[key]
            pw.clear()
            pw.plot(xs, ys, pen=_pg().mkPen("#4fb3ff", width=1.5))
        st = self.plots["states"]
        st.clear()
        for span in b.spans:
            color = STATE_COLORS.get(span.state, "#455a64")
            bar = _pg().BarGraphItem(x0=[span.start], width=[span.duration], y0=[0], height=[1],
                                  brush=_pg().mkBrush(color), pen=_pg().mkPen(None))  # fmt: skip
            bar.setToolTip(html.escape(f"{span.state} {span.reason}".strip()))  # a device's words, never markup
            st.addItem(bar)
        for pw in self.plots.values():
            pw.setXRange(b.start, b.end, padding=0)
        self.events.setRowCount(len(b.events))
        for i, e in enumerate(reversed(b.events)):
            t = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.at))
            for j, text in enumerate((t, f"{e.old_state} → {e.new_state}", e.reason)):
                self.events.setItem(i, j, QTableWidgetItem(text))
        r = b.availability.ratio
        self.availability.setText(f"availability {100 * r:.2f} %" if r is not None else "availability: no data")
        self.status.setText(series_words(len(b.series.points), b.series.resolution, len(b.events),
                                         b.availability.outages))  # fmt: skip

    def _show_summary(self, req: int, rows) -> None:
        if req != self._request:
            return
        self.summary_rows = rows
        self.summary.setRowCount(len(rows))
        for i, a in enumerate(rows):
            ratio = "" if a.ratio is None else f"{100 * a.ratio:.2f} %"
            name = self.names.get(a.camera_id, a.camera_id)
            for j, text in enumerate((name, f"{a.down_s / 60:.1f} min", str(a.outages), ratio)):
                self.summary.setItem(i, j, QTableWidgetItem(text))


CUSTOM_RANGE = "Custom range…"
FORMATS = {"JSON": ".json", "CSV": ".csv"}


class ExportDialog(QDialog):
    """Export history: the operator picks the range (a preset or from/to), the cameras and the file.

    The export runs on a store reader thread; *tasks* (a :class:`~widgets.tasks.TaskRunner`) hands the
    outcome to the GUI thread twice: to the dialog, dropped if it was closed and deleted meanwhile, and to
    the log and *status* (the window's status bar signal), which hear it either way. Pass the window's
    runner as *tasks* for that (``export_dialog`` does); without one the dialog makes its own, and then
    nobody is told once the dialog is gone. Bad choices are refused in words.
    """

    def __init__(self, store, cameras: list[tuple[str, str]], clock=time.time, parent: QWidget | None = None,
                 default_path: str | None = None, status=None, tasks: TaskRunner | None = None) -> None:  # fmt: skip
        super().__init__(parent)
        self.setWindowTitle("Export history")
        self.setMinimumWidth(520)
        self.store = store
        self.clock = clock
        self._status = status
        self._tasks = tasks if tasks is not None else TaskRunner(parent=self, name="ui:export")
        self.exporting = False
        self.last_result = None
        self.range = QComboBox(self)
        self.range.addItems([*RANGES, CUSTOM_RANGE])
        self.range.setCurrentText("Last 24 hours")
        now = QDateTime.fromSecsSinceEpoch(int(clock()))
        self.start_edit = QDateTimeEdit(now.addSecs(-86400), self)
        self.end_edit = QDateTimeEdit(now, self)
        for e in (self.start_edit, self.end_edit):
            e.setCalendarPopup(True)
            e.setDisplayFormat("yyyy-MM-dd HH:mm:ss")
        self.cameras = QListWidget(self)
        for cid, name in cameras:
            item = QListWidgetItem(f"{name} ({cid})" if name and name != cid else cid)
            item.setData(Qt.ItemDataRole.UserRole, cid)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked)
            self.cameras.addItem(item)
        all_btn, none_btn = QPushButton("All", self), QPushButton("None", self)
        all_btn.clicked.connect(lambda: self.check_all(True))
        none_btn.clicked.connect(lambda: self.check_all(False))
        self.format = QComboBox(self)
        self.format.addItems(list(FORMATS))
        self.path = QLineEdit(default_path or str(Path.home() / "vigil-history.json"), self)
        browse = QPushButton("Browse…", self)
        browse.clicked.connect(self._browse)
        self.format.currentTextChanged.connect(self._format_changed)
        self.result_label = QLabel("", self)
        self.result_label.setTextFormat(Qt.TextFormat.PlainText)
        self.result_label.setWordWrap(True)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close, self)
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.ActionRole)
        self.export_button.clicked.connect(self.export)
        self.buttons.rejected.connect(self.reject)
        form = QFormLayout()
        form.addRow("Range", self.range)
        form.addRow("From", self.start_edit)
        form.addRow("To", self.end_edit)
        pick = QHBoxLayout()
        pick.addWidget(self.cameras, 1)
        side = QVBoxLayout()
        side.addWidget(all_btn)
        side.addWidget(none_btn)
        side.addStretch(1)
        pick.addLayout(side)
        form.addRow("Cameras", pick)
        form.addRow("Format", self.format)
        file_row = QHBoxLayout()
        file_row.addWidget(self.path, 1)
        file_row.addWidget(browse)
        form.addRow("File", file_row)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addWidget(self.result_label)
        lay.addWidget(self.buttons)
        self.range.currentTextChanged.connect(self._range_changed)
        self._range_changed(self.range.currentText())

    # ------------------------------------------------------------------ choices
    def check_all(self, on: bool) -> None:
        state = Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        for i in range(self.cameras.count()):
            self.cameras.item(i).setCheckState(state)

    def chosen_cameras(self) -> list[str]:
        return [self.cameras.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.cameras.count())
                if self.cameras.item(i).checkState() == Qt.CheckState.Checked]  # fmt: skip

    def _range_changed(self, text: str) -> None:
        custom = text == CUSTOM_RANGE
        self.start_edit.setEnabled(custom)
        self.end_edit.setEnabled(custom)
        if not custom:  # show what the preset means, so "Custom" starts from it
            end = QDateTime.fromSecsSinceEpoch(int(self.clock()))
            self.end_edit.setDateTime(end)
            self.start_edit.setDateTime(end.addSecs(-int(RANGES[text])))

    def chosen_range(self) -> tuple[float, float]:
        """(start, end) in UNIX seconds. A preset ends now; a custom range is what the editors say."""
        text = self.range.currentText()
        if text != CUSTOM_RANGE:
            end = self.clock()
            return end - RANGES[text], end
        return float(self.start_edit.dateTime().toSecsSinceEpoch()), float(self.end_edit.dateTime().toSecsSinceEpoch())

    def _format_changed(self, fmt: str) -> None:
        p = self.path.text().strip()
        if p:
            self.path.setText(str(Path(p).with_suffix(FORMATS[fmt])))

    def _browse(self) -> None:
        fmt = self.format.currentText()
        path, _ = QFileDialog.getSaveFileName(self, "Export history", self.path.text(), f"{fmt} (*{FORMATS[fmt]})")
        if path:
            self.path.setText(str(Path(path).with_suffix(FORMATS[fmt])))

    def problems(self) -> list[str]:
        """What is wrong with the current choices, in words ([] = ready to export)."""
        out = []
        start, end = self.chosen_range()
        if end <= start:
            out.append("the range must end after it starts")
        if not self.chosen_cameras():
            out.append("choose at least one camera")
        p = self.path.text().strip()
        if not p:
            out.append("choose a file to export to")
        elif Path(p).is_dir():
            out.append(f"{p} is a folder: give a file name")
        return out

    # ------------------------------------------------------------------ export (reader thread)
    def export(self) -> bool:
        """Start the export; False (with the reasons shown) when the choices are not usable."""
        if self.exporting:
            return False
        bad = self.problems()
        if bad:
            self._show("; ".join(bad).capitalize(), ok=False)
            return False
        start, end = self.chosen_range()
        ids = self.chosen_cameras()
        # every camera chosen = everything in the history, also cameras since removed from the config
        camera_ids = None if len(ids) == self.cameras.count() else ids
        fmt = FORMATS[self.format.currentText()].lstrip(".")
        path = str(Path(self.path.text().strip()).expanduser())
        try:
            export = self.store.query(export_history, path, start, end, camera_ids, fmt, now=min(end, self.clock()))
        except Exception as e:  # the store is not available: say so, lose nothing
            self._show(f"export failed: {e}", ok=False)
            return False
        self.exporting = True
        self.export_button.setEnabled(False)
        self._show(f"exporting {len(ids)} camera(s) to {path} …", ok=True)
        # first the dialog (its own callbacks: dropped once it is deleted), then the log and the status bar
        self._tasks.when_done(export, self._on_exported, self._on_export_failed, owner=self)
        status = self._status  # not self: the report must not need the dialog

        def report(words: str) -> None:
            log.info("%s", words)
            if status is not None:
                status.emit(words)

        self._tasks.when_done(export, lambda res: report(exported_words(res)), lambda e: report(f"export failed: {e}"),
                              what="the history export")  # fmt: skip
        return True

    def _on_exported(self, res) -> None:
        self.last_result = res
        self._finished(exported_words(res), ok=True)

    def _on_export_failed(self, e: BaseException) -> None:
        self._finished(f"export failed: {e}", ok=False)

    def _finished(self, words: str, ok: bool) -> None:
        self.exporting = False
        self.export_button.setEnabled(True)
        self._show(words, ok)

    def _show(self, words: str, ok: bool) -> None:
        self.result_label.setStyleSheet("color: #4ade80;" if ok else "color: #ff6b6b;")
        self.result_label.setText(words)


def exported_words(res) -> str:
    """The sentence for a finished export (an ``ExportResult``)."""
    return f"exported {res.events} events, {res.samples} samples, {res.alerts} alerts to {', '.join(res.files)}"


def export_dialog(
    parent: QWidget, store, cameras: list[tuple[str, str]] | None = None, clock=time.time
) -> ExportDialog:
    """Open the export dialog (non-modal: the wall keeps running); returns it. The outcome reaches
    *parent*'s status bar through *parent*'s task runner, also after the dialog was closed."""
    dlg = ExportDialog(store, cameras or [], clock=clock, parent=parent, status=getattr(parent, "status_message", None),
                       tasks=getattr(parent, "tasks", None))  # fmt: skip
    dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
    dlg.show()
    return dlg


def install_history_ui(window, runtime):
    """Tools > History… (Ctrl+H), File > Export history…, tile menu "History…". None without a store."""
    store = runtime.store
    if store is None:
        return None

    def cams() -> list[tuple[str, str]]:  # read at open time: cameras added since start are choosable
        return [(c.id, c.name) for c in runtime.config.cameras]

    def open_history(camera_id: str | None = None) -> HistoryView:
        dlg = QDialog(window)
        dlg.setWindowTitle("History")
        dlg.resize(1100, 750)
        view = HistoryView(store, cams(), parent=dlg)
        if camera_id:
            view.camera.setCurrentIndex(max(0, view.camera.findData(camera_id)))
        QVBoxLayout(dlg).addWidget(view)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return view

    window.add_menu_action("&Tools", "History…", open_history, shortcut="Ctrl+H")
    window.add_menu_action("&File", "Export history…", lambda: export_dialog(window, store, cams()))

    def add_action(menu, cid: str) -> None:
        if not is_status_id(cid):  # status tiles are not recorded in the history
            menu.addAction("History…", lambda: open_history(cid))

    window.tile_context_menu_hooks.append(add_action)
    return open_history
