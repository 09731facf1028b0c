"""Camera management dialog: validation in words, a non-blocking connection test, save -> wall."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog

from tests.lab import free_port
from tests.widgets.conftest import demo_cam, make_config
from widgets.camera_dialog import CameraEditDialog, CameraManagerDialog

WAIT = 30_000


def test_edit_dialog_reports_errors_in_words(qtbot):
    cfg = make_config([demo_cam("Lobby")])
    dlg = CameraEditDialog(cfg)
    qtbot.addWidget(dlg)
    dlg.url.setText("ftp://admin:hunter22@10.1.2.3/x")
    dlg.accept()
    assert dlg.result() != QDialog.DialogCode.Accepted and dlg.camera() is None
    text = dlg.error.text()
    assert "name: must not be empty" in text
    assert "unsupported URL" in text and "hunter22" not in text  # the password never shows
    dlg.name.setText("Lobby")
    dlg.url.setText("demo://x?pattern=life")
    dlg.accept()
    assert "another camera already has the id 'lobby'" in dlg.error.text()
    dlg.name.setText("Lobby 2")
    dlg.accept()
    assert dlg.camera() is not None and dlg.camera().id == "lobby-2"


def test_connection_test_runs_in_background_and_says_what_happened(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.url.setText(f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam1")
    dlg.run_test()
    assert not dlg.test_button.isEnabled()  # returned at once; the worker reports later
    assert "s3cret" not in dlg.test_result.text()
    qtbot.waitUntil(lambda: dlg.test_ok is not None, timeout=WAIT)
    assert dlg.test_ok is False and "refused" in dlg.test_result.text()
    dlg.url.setText("demo://t?pattern=testsrc2&size=640x360&rate=10")
    dlg.run_test()
    qtbot.waitUntil(lambda: dlg.test_ok is not None, timeout=WAIT)
    assert dlg.test_ok is True and dlg.test_result.text().startswith("OK: 640x360")


def test_manager_adds_disables_and_removes_cameras_on_the_running_wall(qtbot, make_window, tmp_path):
    win = make_window(make_config([demo_cam("Lobby"), demo_cam("Gate", "life")], "2x2"))
    mgr = CameraManagerDialog(win.runtime.config, win)
    qtbot.addWidget(mgr)
    mgr.config_accepted.connect(win.apply_config)
    assert "Lobby · Test — demo://" in mgr.list.item(0).text()
    ed = mgr.add_camera()
    ed.name.setText("Yard")
    ed.group.setText("Depot")
    ed.url.setText("demo://y?pattern=zoneplate&size=320x180&rate=10")
    ed.accept()
    assert mgr.list.count() == 3 and "Yard · Depot" in mgr.list.item(2).text()
    mgr.list.setCurrentRow(1)
    mgr.toggle_selected()
    assert "[disabled]" in mgr.list.item(1).text()
    mgr.list.setCurrentRow(0)
    mgr.remove_selected()
    mgr.accept()
    assert [c.id for c in win.runtime.config.cameras] == ["gate", "yard"]
    assert win.runtime.supervisor.pipeline("lobby") is None and win.runtime.supervisor.pipeline("gate") is None
    ids = [t.camera_id for t in win.wall.tiles]
    assert "yard" in ids and "lobby" not in ids
    yard = win.wall.tiles[ids.index("yard")]
    qtbot.waitUntil(lambda: yard.overlay().state == "LIVE", timeout=WAIT)
    gate = win.wall.tiles[ids.index("gate")]
    assert gate.overlay().stamp == "DISABLED"
    win.saver.flush()
    assert (tmp_path / "vigil.json").exists()
