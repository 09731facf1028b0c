"""The camera dialog never shows a password in clear: masked URL, a masked password field with a Show toggle,
the stored password kept when the URL is edited around it, a pasted password moved out of the URL."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QLineEdit

from app.config import CameraConfig
from app.secrets import MASK, MISSING_WORDS, secret_slots
from tests.widgets.conftest import make_config
from widgets.camera_dialog import CameraEditDialog, CameraManagerDialog

WAIT = 30_000
PW = "Gate-s3cret"


def edit(qtbot, cam: CameraConfig) -> CameraEditDialog:
    dlg = CameraEditDialog(make_config([cam]), cam)
    qtbot.addWidget(dlg)
    return dlg


def saved(qtbot, dlg: CameraEditDialog) -> CameraConfig:
    dlg.enabled.setChecked(False)  # saved without a connection test (the camera is not reachable here)
    dlg.accept()
    qtbot.waitUntil(lambda: dlg.camera() is not None, timeout=WAIT)
    return dlg.camera()


def shown(dlg: CameraEditDialog) -> str:
    return dlg.url.text() + " " + dlg.sub_url.text()


def test_edit_dialog_shows_the_url_masked_and_the_password_hidden_until_revealed(qtbot):
    cam = CameraConfig(id="gate", name="Gate", url=f"rtsp://admin:{PW}@10.0.0.5:554/ch1?pwd={PW}",
                       sub_url=f"rtsp://admin:{PW}@10.0.0.5:554/ch2")  # fmt: skip
    dlg = edit(qtbot, cam)
    dlg.show()
    assert dlg.url.text() == f"rtsp://admin:{MASK}@10.0.0.5:554/ch1?pwd={MASK}"
    assert dlg.sub_url.text() == f"rtsp://admin:{MASK}@10.0.0.5:554/ch2"
    assert dlg.password.echoMode() == QLineEdit.EchoMode.Password and not dlg.reveal.isChecked()
    assert PW not in dlg.password.displayText()  # what is painted: bullets
    qtbot.mouseClick(dlg.reveal, Qt.MouseButton.LeftButton)
    assert dlg.password.echoMode() == QLineEdit.EchoMode.Normal and dlg.password.displayText() == PW
    qtbot.mouseClick(dlg.reveal, Qt.MouseButton.LeftButton)
    assert dlg.password.echoMode() == QLineEdit.EchoMode.Password and PW not in dlg.password.displayText()
    assert PW not in shown(dlg)
    for child in dlg.findChildren(QLineEdit):  # no other field of the dialog shows it either
        assert PW not in child.displayText()


def test_editing_the_url_around_the_mask_keeps_the_stored_password(qtbot):
    cam = CameraConfig(id="gate", name="Gate", url=f"rtsp://admin:{PW}@10.0.0.5:554/ch1?pwd={PW}&token=T0ken-77")
    dlg = edit(qtbot, cam)
    dlg.url.setText(dlg.url.text().replace("10.0.0.5:554/ch1", "10.0.0.6:8554/main"))
    new = saved(qtbot, dlg)
    assert new.url == f"rtsp://admin:{PW}@10.0.0.6:8554/main?pwd={PW}&token=T0ken-77"
    # a new password replaces it everywhere "the password" was; the token, a secret of its own, is kept
    dlg = edit(qtbot, new)
    dlg.password.clear()
    qtbot.keyClicks(dlg.password, "N3w pw!")
    new = saved(qtbot, dlg)
    assert new.url == "rtsp://admin:N3w%20pw%21@10.0.0.6:8554/main?pwd=N3w%20pw%21&token=T0ken-77"


def test_a_pasted_url_gives_its_password_to_the_password_field(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.show()
    dlg.name.setText("Yard")
    QGuiApplication.clipboard().setText(f"rtsp://op:{PW}@10.0.0.8/live?pwd={PW}")
    dlg.url.setFocus()
    dlg.url.paste()
    assert dlg.url.text() == f"rtsp://op:{MASK}@10.0.0.8/live?pwd={MASK}"  # at once, not on leaving the field
    assert dlg.password.text() == PW and PW not in dlg.password.displayText()
    # typed by hand, character by character: moved when the field is left
    qtbot.keyClicks(dlg.sub_url, f"rtsp://op:{PW}@10.0.0.8/sub")
    dlg.sub_url.editingFinished.emit()
    assert dlg.sub_url.text() == f"rtsp://op:{MASK}@10.0.0.8/sub"
    new = saved(qtbot, dlg)
    assert new.url == f"rtsp://op:{PW}@10.0.0.8/live?pwd={PW}" and new.sub_url == f"rtsp://op:{PW}@10.0.0.8/sub"


def test_a_user_name_and_the_password_field_make_the_url(qtbot):
    dlg = CameraEditDialog(make_config([]))
    qtbot.addWidget(dlg)
    dlg.name.setText("Dock")
    dlg.url.setText("rtsp://admin@10.0.0.3/ch1")
    qtbot.keyClicks(dlg.password, "p@ss:w/rd")
    assert saved(qtbot, dlg).url == "rtsp://admin:p%40ss%3Aw%2Frd@10.0.0.3/ch1"


def test_a_password_missing_from_the_keyring_is_said_and_can_be_entered_again(qtbot):
    cam = CameraConfig(id="gate", name="Gate", url="rtsp://admin:${secret:camera.gate.main}@10.0.0.5/ch1")
    dlg = edit(qtbot, cam)
    assert dlg.url.text() == f"rtsp://admin:{MASK}@10.0.0.5/ch1" and "${secret" not in shown(dlg)
    assert dlg.password.text() == "" and MISSING_WORDS in dlg.password.placeholderText()
    assert saved(qtbot, dlg).url == cam.url  # left as it is: still the reference (still missing)
    dlg = edit(qtbot, cam)
    qtbot.keyClicks(dlg.password, PW)
    assert saved(qtbot, dlg).url == f"rtsp://admin:{PW}@10.0.0.5/ch1"


@pytest.mark.lab
def test_the_connection_test_uses_the_kept_password_and_a_wrong_one_fails(qtbot, rtsp_lab):
    url = rtsp_lab.secure_url(rtsp_lab.user, rtsp_lab.password)
    dlg = edit(qtbot, CameraConfig(id="secure", name="Secure", url=url))
    assert all(s.value == MASK for s in secret_slots(dlg.url.text()))
    dlg.run_test()
    qtbot.waitUntil(lambda: dlg.test_ok is not None, timeout=WAIT)
    assert dlg.test_ok is True, dlg.test_words
    dlg.password.clear()
    qtbot.keyClicks(dlg.password, "wrong-Passw0rd")
    dlg.run_test()
    qtbot.waitUntil(lambda: dlg.test_ok is not None, timeout=WAIT)
    assert dlg.test_ok is False and "401" in dlg.test_words
    assert "wrong-Passw0rd" not in dlg.test_result.text() and rtsp_lab.password not in dlg.test_result.text()


def test_camera_list_shows_no_password(qtbot):
    mgr = CameraManagerDialog(make_config([CameraConfig(name="Gate", url=f"rtsp://admin:{PW}@10.0.0.5/ch1?pwd={PW}")]))
    qtbot.addWidget(mgr)
    assert PW not in mgr.list.item(0).text() and "admin:***@" in mgr.list.item(0).text()
