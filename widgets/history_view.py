"""History view: per-camera charts (fps, bitrate, latency), state timeline bands, events, availability, and a
wall-level summary (cameras down longest). Also the "Export history…" action.

All data comes from one background query (``Store.query(repository.history_bundle, ...)``); the result
(a frozen ``HistoryBundle``) is handed to the GUI thread through a signal. Repeated requests are merged:
only the newest request's answer is drawn (the ``mandelbrot`` example's habit).
"""

from __future__ import annotations

import logging
import time

import pyqtgraph as pg
from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtWidgets import (
    QComboBox,
    QDialog,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from app.store import repository
from app.store.export import export_history

log = logging.getLogger(__name__)

RANGES = {"Last hour": 3600, "Last 6 hours": 6 * 3600, "Last 24 hours": 86400, "Last 7 days": 7 * 86400,
          "Last 30 days": 30 * 86400}  # fmt: skip
STATE_COLORS = {"LIVE": "#2e7d32", "CONNECTING": "#f9a825", "STALLED": "#ef6c00", "OFFLINE": "#c62828",
                "ERROR": "#6a1b9a", "IDLE": "#455a64"}  # fmt: skip


class _Results(QObject):
    bundle = Signal(int, object)
    summary = Signal(int, object)
    failed = Signal(str)


class HistoryView(QWidget):
    def __init__(self, store, cameras: list[tuple[str, str]], clock=time.time, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.store = store
        self.clock = clock
        self._request = 0
        self.bundle = None
        self.summary_rows: tuple = ()
        self._results = _Results(self)
        self._results.bundle.connect(self._show_bundle)
        self._results.summary.connect(self._show_summary)
        self._results.failed.connect(lambda msg: self.status.setText(msg))

        self.camera = QComboBox(self)
        for cid, name in cameras:
            self.camera.addItem(name or cid, cid)
        self.range = QComboBox(self)
        self.range.addItems(list(RANGES))
        self.status = QLabel(self)
        self.availability = QLabel(self)
        top = QHBoxLayout()
        for w in (QLabel("Camera"), self.camera, QLabel("Range"), self.range, self.availability):
            top.addWidget(w)
        top.addStretch(1)

        axis = lambda: pg.DateAxisItem(orientation="bottom")  # noqa: E731
        self.plots: dict[str, pg.PlotWidget] = {}
        charts = QWidget(self)
        cl = QVBoxLayout(charts)
        for key, title in (("fps", "frames/s"), ("bitrate", "bitrate (Mb/s)"), ("latency", "latency (ms)"),
                           ("states", "state")):  # fmt: skip
            pw = pg.PlotWidget(axisItems={"bottom": axis()})
            pw.setLabel("left", title)
            pw.setMouseEnabled(y=False)
            if key == "states":
                pw.setMaximumHeight(90)
                pw.getAxis("left").setTicks([[]])
            if self.plots:
                pw.setXLink(next(iter(self.plots.values())))
            self.plots[key] = pw
            cl.addWidget(pw)
        self.events = QTableWidget(0, 3, self)
        self.events.setHorizontalHeaderLabels(["time", "change", "reason"])
        self.events.horizontalHeader().setStretchLastSection(True)
        self.summary = QTableWidget(0, 4, self)
        self.summary.setHorizontalHeaderLabels(["camera", "down", "outages", "availability"])
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

        def deliver(kind):
            def cb(fut):
                try:
                    res = fut.result()
                except Exception as e:  # shown in words, the view keeps working
                    self._results.failed.emit(f"history could not be read: {e}")
                    return
                getattr(self._results, kind).emit(req, res)

            return cb

        try:
            if cid:
                self.store.query(repository.history_bundle, cid, start, end, end, callback=deliver("bundle"))
            self.store.query(repository.downtime_summary, start, end, None, end, callback=deliver("summary"))
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
            pw.plot(xs, ys, pen=pg.mkPen("#4fb3ff", width=1.5))
        st = self.plots["states"]
        st.clear()
        for span in b.spans:
            color = STATE_COLORS.get(span.state, "#455a64")
            bar = pg.BarGraphItem(x0=[span.start], width=[span.duration], y0=[0], height=[1],
                                  brush=pg.mkBrush(color), pen=pg.mkPen(None))  # fmt: skip
            bar.setToolTip(f"{span.state} {span.reason}".strip())
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
        self.status.setText(f"{len(b.series.points)} points ({b.series.resolution}), {len(b.events)} events, "
                            f"{b.availability.outages} outages")  # fmt: skip

    def _show_summary(self, req: int, rows) -> None:
        if req != self._request:
            return
        self.summary_rows = rows
        self.summary.setRowCount(len(rows))
        for i, a in enumerate(rows):
            ratio = "" if a.ratio is None else f"{100 * a.ratio:.2f} %"
            for j, text in enumerate((a.camera_id, f"{a.down_s / 60:.1f} min", str(a.outages), ratio)):
                self.summary.setItem(i, j, QTableWidgetItem(text))


def export_dialog(parent: QWidget, store, range_s: float = 86400, clock=time.time) -> None:
    """Ask for a file (.csv or .json); export the last *range_s* for every camera on a reader thread."""
    path, _ = QFileDialog.getSaveFileName(parent, "Export history", "vigil-history.json", "JSON (*.json);;CSV (*.csv)")
    if not path:
        return
    end = clock()
    status = getattr(parent, "status_message", None)

    def done(fut):
        try:
            res = fut.result()
            msg = f"exported {res.events} events, {res.samples} samples, {res.alerts} alerts to {', '.join(res.files)}"
        except Exception as e:
            msg = f"export failed: {e}"
        log.info("%s", msg)
        if status is not None:
            status.emit(msg)  # a Qt signal: safe from the reader thread

    store.query(export_history, path, end - range_s, end, None, now=end, callback=done)


def install_history_ui(window, runtime):
    """Tools > History… (Ctrl+H), File > Export history…, tile menu "History…". None without a store."""
    store = next((svc for n, svc in runtime.services if n == "store"), None)
    if store is None:
        return None
    cams = [(c.id, c.name) for c in runtime.config.cameras]

    def open_history(camera_id: str | None = None) -> HistoryView:
        dlg = QDialog(window)
        dlg.setWindowTitle("History")
        dlg.resize(1100, 750)
        view = HistoryView(store, cams, parent=dlg)
        if camera_id:
            view.camera.setCurrentIndex(max(0, view.camera.findData(camera_id)))
        QVBoxLayout(dlg).addWidget(view)
        dlg.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        dlg.show()
        return view

    window.add_menu_action("&Tools", "History…", open_history, shortcut="Ctrl+H")
    window.add_menu_action("&File", "Export history…", lambda: export_dialog(window, store))
    window.tile_context_menu_hooks.append(lambda menu, cid: menu.addAction("History…", lambda: open_history(cid)))
    return open_history
