"""Help on the real MainWindow: F1 and "?" open the keyboard and mouse sheet (non-modal, grouped, built from
widgets/shortcuts.py), every menu key the sheet names is a real action of the window (and every action key
of the window is on the sheet), File is the first menu and Help the last, About names the FFmpeg version and
where the files are."""

from __future__ import annotations

import sqlite3

import av
from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QKeySequence

from app.compose import add_alerts, add_store
from app.paths import Paths
from app.runtime import Runtime
from tests.widgets.conftest import demo_cam, make_config
from widgets.alarm_history import install_alarm_history_ui
from widgets.alarm_panel import install_alarm_ui
from widgets.help import help_font_px
from widgets.history_view import install_history_ui
from widgets.main_window import MainWindow
from widgets.shortcuts import GROUPS, SHORTCUTS, Shortcut, grouped


def _full_window(qtbot, tmp_path):
    """The window as the application builds it: alarms, alarm history and history installed (store and
    alert engine real; pipelines not started)."""
    runtime = Runtime(config=make_config([demo_cam("Gate North")]), paths=Paths.resolve(tmp_path / "vigil.json",
                                                                                         tmp_path))  # fmt: skip
    store = add_store(runtime)
    add_alerts(runtime)
    store.start()
    window = MainWindow(runtime)
    qtbot.addWidget(window)
    panel = install_alarm_ui(window, runtime)
    install_history_ui(window, runtime)
    install_alarm_history_ui(window, runtime)
    return window, store, panel


def _action_keys(window) -> dict[str, str]:
    """Every shortcut of every QAction in the window (menus, submenus, docks) → the action's text."""
    out: dict[str, str] = {}
    for act in window.findChildren(QAction):
        for seq in act.shortcuts():
            if not seq.isEmpty():
                out[seq.toString(QKeySequence.SequenceFormat.PortableText)] = act.text()
    return out


def test_f1_and_question_mark_open_the_keyboard_sheet_without_blocking_the_wall(qtbot, make_window):
    win = make_window(make_config([demo_cam("Lobby")], "2x2"))
    assert win.help_sheet is None
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)  # window shortcuts work in the active window
    win.wall.setFocus()
    qtbot.keyClick(win.wall, Qt.Key.Key_F1)
    qtbot.waitUntil(lambda: win.help_sheet is not None and win.help_sheet.isVisible(), timeout=5000)
    sheet = win.help_sheet
    assert not sheet.isModal()  # the wall keeps running and taking input beside it
    rows = sheet.texts()
    headings = [k for k, what in rows if not what]
    assert headings == [g for g in GROUPS if any(e.group == g for e in SHORTCUTS)]
    assert ("Ctrl+Q", "Quit Vigil (it asks first)") in rows
    assert len(rows) == len(SHORTCUTS) + len(headings)
    sheet.close()
    assert not sheet.isVisible()
    win.activateWindow()
    qtbot.waitUntil(win.isActiveWindow, timeout=5000)
    win.wall.setFocus()
    qtbot.keyClick(win.wall, "?")
    qtbot.waitUntil(sheet.isVisible, timeout=5000)
    assert win.help_sheet is sheet  # raised again, not a second sheet
    assert sheet.table.font().pixelSize() == help_font_px(win.height()) >= 16


def test_every_menu_key_on_the_sheet_is_a_real_action_and_every_action_key_is_on_the_sheet(qtbot, tmp_path):
    window, store, panel = _full_window(qtbot, tmp_path)
    try:
        keys = _action_keys(window)
        promised = {QKeySequence(e.action).toString(QKeySequence.SequenceFormat.PortableText)
                    for e in SHORTCUTS if e.action}  # fmt: skip
        missing = sorted(promised - set(keys))
        assert not missing, f"the sheet names menu keys no action has: {missing}"
        ranges = {f"Ctrl+{i}" for i in range(1, 10)}  # one line on the sheet: "Ctrl+1 … Ctrl+9" (saved views)
        assert any(e.keys == "Ctrl+1 … Ctrl+9" for e in SHORTCUTS)
        unlisted = sorted(f"{k} ({keys[k]})" for k in set(keys) - promised - ranges if k != "?")
        assert not unlisted, f"window actions whose keys are not on the sheet (add a line to SHORTCUTS): {unlisted}"
    finally:
        panel.shutdown()
        window.shutdown()
        store.stop()


def test_file_is_the_first_menu_and_help_the_last_even_after_features_add_theirs(qtbot, tmp_path):
    window, store, panel = _full_window(qtbot, tmp_path)
    try:
        titles = [a.text().replace("&", "") for a in window.menuBar().actions()]
        assert titles[0] == "File" and titles[-1] == "Help", titles
        assert {"View", "Cameras", "Alarms", "Tools", "Window"} <= set(titles)
        file_items = [a.text() for a in window.menu("&File").actions()]
        assert "Quit Vigil…" in file_items and "Export history…" in file_items
        window.menu("&Later")  # a menu added by a feature after the window was built still lands before Help
        assert [a.text() for a in window.menuBar().actions()][-2:] == ["&Later", "&Help"]
    finally:
        panel.shutdown()
        window.shutdown()
        store.stop()


def test_about_names_versions_ffmpeg_and_where_the_files_are(qtbot, make_window):
    win = make_window(make_config([demo_cam("Lobby")]))
    win.about_action.trigger()
    about = win.about_dialog
    qtbot.waitUntil(about.isVisible, timeout=5000)
    assert not about.isModal()
    facts = dict(about.facts)
    assert facts["FFmpeg"].startswith(av.ffmpeg_version_info) and "libavcodec" in facts["FFmpeg"]
    assert facts["PyAV"] == av.__version__ and facts["SQLite"] == sqlite3.sqlite_version
    assert {"Vigil", "Python", "Qt", "PySide6", "OpenCV"} <= set(facts)
    paths = win.runtime.paths
    assert facts["Configuration file"] == str(paths.config_file)
    assert facts["Log files folder"] == str(paths.log_dir) and facts["Recordings folder"] == str(paths.recordings_dir)
    shown = [about.table.item(r, 1).text() for r in range(about.table.rowCount()) if about.table.item(r, 1)]
    assert facts["FFmpeg"] in shown and str(paths.data_dir) in shown


def test_a_group_nobody_listed_yet_is_shown_after_the_known_ones():
    extra = (*SHORTCUTS, Shortcut("Camera list", "Ctrl+F", "Find a camera by name"))
    groups = [g for g, _ in grouped(extra)]
    assert groups[-1] == "Camera list" and groups[0] == "Wall"
    assert sum(len(items) for _, items in grouped(extra)) == len(extra)
