"""Camera management dialog: validation in words, a non-blocking connection test, save -> wall."""

from __future__ import annotations

from PySide6.QtWidgets import QDialog, QMessageBox

from tests.lab import free_port
from tests.widgets.conftest import demo_cam, make_config
from widgets.camera_dialog import CameraEditDialog, CameraManagerDialog
from widgets.camera_dialog import test_connection as check_connection

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
    assert "not a stream address Vigil can open" in text and "hunter22" not in text  # the password never shows
    assert "rtsp://" in text and "HLS playlist (.m3u8)" in text and "lavfi" not in text and "demo:" not in text
    dlg.name.setText("Lobby")
    dlg.url.setText("demo://x?pattern=life")
    dlg.accept()
    assert "another camera already has the id 'lobby'" in dlg.error.text()
    dlg.name.setText("Lobby 2")
    dlg.accept()  # not tested yet: the test runs first (background), then the dialog saves
    qtbot.waitUntil(lambda: dlg.camera() is not None, timeout=WAIT)
    assert dlg.camera().id == "lobby-2" and dlg.test_ok is True


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
    qtbot.waitUntil(lambda: mgr.list.count() == 3, timeout=WAIT)  # after its connection test passed
    assert "Yard · Depot" in mgr.list.item(2).text()
    mgr.list.setCurrentRow(1)
    mgr.toggle_selected()
    assert "[disabled]" in mgr.list.item(1).text()
    mgr.list.setCurrentRow(0)
    box = mgr.remove_selected()  # asks first: nothing is removed by the click alone
    assert box is mgr.confirm_box and "Remove Lobby from the wall?" in box.text()
    assert mgr.list.count() == 3
    next(b for b in box.buttons() if b.text() == "Remove").click()
    mgr.accept()
    assert [c.id for c in win.runtime.config.cameras] == ["gate", "yard"]
    assert win.runtime.supervisor.pipeline("lobby") is None and win.runtime.supervisor.pipeline("gate") is None
    ids = [t.camera_id for t in win.wall.tiles]
    assert "yard" in ids and "lobby" not in ids
    yard = win.wall.tiles[ids.index("yard")]
    qtbot.waitUntil(lambda: yard.overlay().state == "LIVE", timeout=WAIT)
    gate = win.wall.tiles[ids.index("gate")]
    assert gate.overlay().stamp == "DISABLED"
    assert win.runtime.flush_saves()
    assert (tmp_path / "vigil.json").exists()


def test_save_without_test_runs_it_and_asks_save_anyway_on_failure(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.name.setText("Yard")
    dlg.url.setText(f"rtsp://admin:s3cret@127.0.0.1:{free_port()}/cam1")
    dlg.accept()
    # accept() returned at once: the test runs on its worker thread, Save waits for it
    assert dlg.saving and dlg.test_ok is None and not dlg.save_button.isEnabled()
    assert dlg.camera() is None and dlg.isVisible() and "before saving" in dlg.test_result.text()
    dlg.accept()  # a second click while testing does nothing
    qtbot.waitUntil(lambda: dlg.confirm_box is not None and dlg.confirm_box.isVisible(), timeout=WAIT)
    box = dlg.confirm_box
    assert box.windowTitle() == "Save anyway?" and "refused" in box.text() and "s3cret" not in box.text()
    assert dlg.test_ok is False and dlg.save_button.isEnabled()
    box.button(QMessageBox.StandardButton.No).click()  # "Keep editing"
    qtbot.waitUntil(lambda: dlg.confirm_box is None, timeout=WAIT)
    assert dlg.camera() is None and dlg.isVisible() and dlg.result() != QDialog.DialogCode.Accepted
    dlg.accept()  # same URL, already tested and failed: asks again at once, no second test
    assert dlg.confirm_box is not None and not dlg.saving
    dlg.confirm_box.button(QMessageBox.StandardButton.Yes).click()  # "Save anyway"
    qtbot.waitUntil(lambda: dlg.camera() is not None, timeout=WAIT)
    assert dlg.camera().id == "yard" and dlg.result() == QDialog.DialogCode.Accepted


def test_changed_url_is_tested_again_and_a_good_one_saves_without_asking(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.name.setText("Gate")
    dlg.url.setText(f"rtsp://127.0.0.1:{free_port()}/x")
    dlg.run_test()
    qtbot.waitUntil(lambda: dlg.test_ok is False, timeout=WAIT)
    dlg.url.setText("demo://g?pattern=testsrc2&size=320x180&rate=10")  # fixed: the old result no longer counts
    dlg.accept()
    assert dlg.saving
    qtbot.waitUntil(lambda: dlg.camera() is not None, timeout=WAIT)
    assert dlg.confirm_box is None and dlg.test_ok is True and dlg.test_result.text().startswith("OK: 320x180")


def test_cancel_while_the_save_test_runs_saves_nothing(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.name.setText("Yard")
    dlg.url.setText("demo://y?pattern=testsrc2&size=320x180&rate=10")  # a test that succeeds: it would save
    dlg.accept()
    assert dlg.saving
    with qtbot.waitSignal(dlg._tasks.settled, timeout=WAIT):  # the test's answer reached the GUI thread
        dlg.reject()  # the operator cancels before the test reports
    qtbot.wait(50)  # let the queued result reach the dialog
    assert not dlg.saving and dlg.camera() is None and dlg.confirm_box is None
    assert dlg.result() == QDialog.DialogCode.Rejected


def test_a_disabled_camera_is_saved_without_a_test(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.name.setText("Old")
    dlg.url.setText(f"rtsp://127.0.0.1:{free_port()}/x")
    dlg.enabled.setChecked(False)
    dlg.accept()
    assert dlg.camera() is not None and dlg.test_ok is None


def test_connection_check_words_for_real_sources():
    ok, words = check_connection("demo://t?pattern=life&size=320x180&rate=10", timeout_s=10)
    assert ok and words.startswith("OK: 320x180")
    ok, words = check_connection(f"rtsp://127.0.0.1:{free_port()}/x", timeout_s=5)
    assert not ok and "refused" in words


def test_device_words_in_the_dialog_are_shown_as_text_never_rendered_as_html(qtbot):
    """A camera's error text is the device's words: markup in it is shown literally (Qt would otherwise guess
    rich text from a leading tag and render it, e.g. a forged link or a hidden part of the message)."""
    from PySide6.QtCore import Qt

    dlg = CameraEditDialog(make_config([demo_cam("Lobby")]))
    qtbot.addWidget(dlg)
    for label in (dlg.test_result, dlg.error):
        assert label.textFormat() == Qt.TextFormat.PlainText
    dlg.name.setText("")
    dlg.url.setText("demo://x?pattern=life")
    dlg.accept()
    assert dlg.error.textFormat() == Qt.TextFormat.PlainText and "name: must not be empty" in dlg.error.text()
