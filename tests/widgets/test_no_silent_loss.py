"""No silent loss of work: a named config that does not exist yet is a new, saved wall; the demo keeps its
history out of the site's data folder and says that it keeps nothing; closing a 24/7 wall asks (a kiosk
wall cannot be closed); removing a camera asks; the camera form carries recording and motion."""

from __future__ import annotations

from PySide6.QtWidgets import QMessageBox

import main
from app.config import load_config
from tests.helpers import wait_for
from tests.widgets.conftest import demo_cam, make_config
from widgets.camera_dialog import CameraEditDialog
from widgets.main_window import MainWindow

WAIT = 30_000


def _window(qtbot, runtime) -> MainWindow:
    runtime.start()
    win = MainWindow(runtime)
    qtbot.addWidget(win)
    win.resize(1280, 720)
    win.show()
    qtbot.waitExposed(win)
    return win


def test_a_named_config_that_does_not_exist_is_an_empty_wall_that_saves_the_cameras_added(qtbot, tmp_path):
    path = tmp_path / "site" / "new-site.json"
    rt = main.build_runtime(main.parse_args(["--config", str(path), "--data-dir", str(tmp_path / "data"),
                                             "--metrics-port", "0"]))  # fmt: skip
    assert not rt.demo and rt.config.cameras == [] and rt.paths.data_dir == tmp_path / "data"
    win = _window(qtbot, rt)
    try:
        assert win.wall.hint.isVisible() and "Double-click a tile" in win.wall.hint.text()
        assert "demo" not in win.windowTitle() and win.demo_bar is None
        win.wall.tiles[4].activated.emit(4)  # double-click the middle tile of the empty 3x3 wall
        dlg = win.findChild(CameraEditDialog)
        assert dlg is not None and dlg.isVisible()
        dlg.name.setText("Gate North")
        dlg.url.setText("demo://g?pattern=testsrc2&size=320x180&rate=10")
        dlg.accept()  # the connection test runs first, then it saves
        qtbot.waitUntil(lambda: path.exists(), timeout=WAIT)
        assert rt.flush_saves(30)
        saved = load_config(path)
        assert [c.name for c in saved.cameras] == ["Gate North"]
        assert saved.wall.pages[0].camera_ids[4] == "gate-north"  # on the tile that was double-clicked
        assert win.wall.tiles[4].camera_id == "gate-north" and not win.wall.hint.isVisible()
    finally:
        win.shutdown()
        rt.stop()


def test_the_demo_keeps_its_history_out_of_the_sites_data_folder_and_says_it_keeps_nothing(qtbot, tmp_path):
    data = tmp_path / "site-data"
    cfg_file = tmp_path / "vigil.json"
    rt = main.build_runtime(main.parse_args(["--demo", "--config", str(cfg_file), "--data-dir", str(data),
                                             "--metrics-port", "0"]))  # fmt: skip
    assert rt.demo and rt.paths.data_dir == data / "demo" and rt.paths.config_file == cfg_file
    win = _window(qtbot, rt)
    try:
        assert "demo: changes are not kept" in win.windowTitle()
        assert win.demo_bar is not None and win.demo_bar.isVisible()
        wait_for(lambda: rt.store.ready, what="the demo's own history database")
        assert rt.store.flush(30)
        assert (data / "demo" / "vigil.sqlite3").exists()
        win.wall.swap_tiles(0, 1)  # an edit in the demo: kept in memory only
        assert rt.flush_saves(10) and not cfg_file.exists()
        win.save_demo_as_config()  # the operator's explicit choice
        qtbot.waitUntil(lambda: cfg_file.exists(), timeout=WAIT)
        assert not rt.demo and not win.demo_bar.isVisible() and "demo" not in win.windowTitle()
        assert [c.id for c in load_config(cfg_file).cameras] == [c.id for c in rt.config.cameras]
    finally:
        win.shutdown()
        rt.stop()
    assert not (data / "vigil.sqlite3").exists() and not (data / "recordings").exists()


def test_closing_the_wall_asks_and_a_kiosk_wall_cannot_be_closed(qtbot, make_window):
    win = make_window(make_config([demo_cam("Lobby")], "2x2"))
    assert win.frames.paint_timer.isActive()
    win.close()
    assert win.isVisible() and win.close_box is not None and win.close_box.isVisible()
    assert "1 camera will no longer be watched" in win.close_box.text()
    win.close_box.button(QMessageBox.StandardButton.Cancel).click()
    assert win.isVisible()
    win.close()
    win.close_box.button(QMessageBox.StandardButton.Close).click()
    qtbot.waitUntil(lambda: not win.isVisible(), timeout=10_000)
    assert not win.frames.paint_timer.isActive()  # shut down: the wall stopped painting
    kiosk = make_window(make_config([demo_cam("Gate")], "2x2", kiosk=True))
    kiosk.close()
    assert kiosk.isVisible() and kiosk.close_box is None
    assert not any(a.text().startswith("Quit") for a in kiosk.menu("&File").actions())


def test_camera_form_sets_recording_and_motion(qtbot):
    cfg = make_config([demo_cam("Lobby")])
    dlg = CameraEditDialog(cfg, cfg.cameras[0])
    qtbot.addWidget(dlg)
    assert dlg.recording.currentData() == "off" and not dlg.motion_on.isChecked()
    dlg.recording.setCurrentIndex(dlg.recording.findData("motion"))
    dlg.motion_on.setChecked(True)
    dlg.sensitivity.setValue(80)
    cam = dlg.validate()
    assert cam is not None and cam.recording.mode == "motion" and cam.recording.pre_roll_s == 5.0
    assert cam.motion.enabled and cam.motion.sensitivity == 0.8


def test_vigil_itself_quitting_is_never_vetoed_by_the_close_question(tmp_path):
    """SIGTERM (and --duration) quit the window at once although closing by hand asks first: Qt 6's quit()
    closes the windows, and a refused close would keep a wall running that its service manager stopped."""
    import os
    import signal
    import subprocess
    import sys
    import time
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    base = [sys.executable, str(root / "main.py"), "--demo", "--config", str(tmp_path / "v.json"), "--metrics-port",
            "0", "--data-dir"]  # fmt: skip
    r = subprocess.run([*base, str(tmp_path / "a"), "--duration", "3"], cwd=root, env=env, capture_output=True,
                       text=True, timeout=120)  # fmt: skip
    assert r.returncode == 0 and "window closed" in r.stderr, r.stderr[-3000:]
    proc = subprocess.Popen([*base, str(tmp_path / "b")], cwd=root, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        log = tmp_path / "b" / "logs" / "vigil.log"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not (log.exists() and "LIVE" in log.read_text(errors="replace")):
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0 and "window closed" in err, err[-3000:]
