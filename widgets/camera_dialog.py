"""Camera management: add / edit / remove / enable cameras, with a connection test before saving.

The connection test opens the URL on a worker of the dialog's :class:`~widgets.tasks.TaskRunner` (one
connection, one decoded frame) and the runner hands the result to the GUI thread: the dialog never
blocks. Two workers, daemon threads: a second test (Save after the URL changed) need not queue behind a
first one that waits for its timeout, and quitting never waits on a camera that does not answer. Each
test has a number; only the newest one's answer is shown (an older one may come back later). Lists
show URLs through ``mask_url``; errors are shown in words next to the field that caused them.

Passwords are never shown in clear (docs/secrets.md): the URL fields show the URL with every secret as
``***`` (the user name kept) and the camera's password sits in its own masked field with a Show toggle
(off when the dialog opens). A ``***`` in a URL stands for that password, so editing the URL around it
keeps the stored one; a URL pasted or typed with a password in it gives the password to the password
field and shows ``***`` in its place. A second, different secret in a URL (e.g. a ``token=`` beside the
password) is kept as it was while its ``***`` stays.

Save runs the connection test first when it has not been run for the URL and transport being saved
(still in the background: the Save button waits, the window does not). A failed test asks "Save
anyway?" with the reason in words; a camera saved as disabled is not tested (it is off on purpose).
"""

from __future__ import annotations

import time
from urllib.parse import quote, unquote

import av
from pydantic import ValidationError
from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QPushButton,
    QSlider,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from app.config import (
    AppConfig,
    CameraConfig,
    CameraRecordingSettings,
    ConfigError,
    MotionSettings,
    parse_config,
    template_words,
)
from app.pipeline.pipeline import _codec_label
from app.pipeline.source import SourceError, build_spec, open_source
from app.secrets import (
    MASK,
    MISSING_WORDS,
    mask_url,
    ref_key,
    replace_slots,
    scrub,
    secret_slots,
    url_password,
    url_secrets,
)
from widgets.tasks import TaskRunner

URL_FIELDS = ("url", "sub_url")

RECORDING_MODES = {"off": "Off", "continuous": "Continuous", "motion": "On motion (with pre- and post-roll)"}


def validation_words(err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        where = ".".join(str(p) for p in e["loc"]) or "camera"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == "missing":
            msg = "is required"
        elif e["type"] == "string_too_short":
            msg = "must not be empty"
        lines.append(f"{where}: {msg}")
    return "\n".join(lines)


def test_connection(url: str, transport: str = "tcp", timeout_s: float = 8.0) -> tuple[bool, str]:
    """Open *url*, decode one video frame. (ok, words). Blocking: call it on a worker thread."""
    secrets = (url_password(url) or "",)
    t0 = time.monotonic()
    try:
        spec = build_spec(url, transport=transport, read_timeout_s=timeout_s)
        container = open_source(spec, timeout_s, timeout_s)
    except SourceError as e:
        return False, f"{e.state.value}: {e.reason}"
    except Exception as e:  # never let a surprise escape the worker thread
        return False, scrub(f"cannot open: {type(e).__name__}: {e}", secrets)
    try:
        if not container.streams.video:
            return False, "connected, but the stream has no video"
        vs = container.streams.video[0]
        # packet by packet, so the deadline also holds for a stream whose packets never decode to a
        # picture (no keyframe, broken bitstream): container.decode() would keep reading forever
        deadline = time.monotonic() + timeout_s
        for packet in container.demux(vs):
            for frame in packet.decode():
                ms = (time.monotonic() - t0) * 1000
                codec = _codec_label(vs.codec_context.name)
                return True, f"OK: {frame.width}x{frame.height} {codec}, first picture in {ms:.0f} ms"
            if time.monotonic() > deadline:
                return False, f"connected, but no picture arrived within {timeout_s:.0f} s"
        return False, "connected, but the stream ended before a picture arrived"
    except av.error.FFmpegError as e:
        return False, scrub(f"connected, but decoding failed: {e}", secrets)
    finally:
        container.close()


class CameraEditDialog(QDialog):
    """Edit one camera. ``camera()`` returns the validated CameraConfig after accept()."""

    def __init__(self, config: AppConfig, cam: CameraConfig | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Edit camera" if cam else "Add camera")
        self.setMinimumWidth(560)
        self._config = config
        self._editing = cam.id if cam else None
        self._result: CameraConfig | None = None
        self.name = QLineEdit(cam.name if cam else "")
        self.group = QLineEdit(cam.group if cam else "")
        self.url = QLineEdit()
        self.url.setPlaceholderText("rtsp://user@192.168.1.10:554/stream1  (the password goes in its own field)")
        self.sub_url = QLineEdit()
        self.sub_url.setPlaceholderText("optional low-resolution stream for the wall tile")
        self.password = QLineEdit()
        self.password.setEchoMode(QLineEdit.EchoMode.Password)
        self.password.setToolTip("The camera's password, used where the URLs show ***. Clear it to connect "
                                 "without one.")  # fmt: skip
        self.reveal = QToolButton()
        self.reveal.setText("Show")
        self.reveal.setCheckable(True)
        self.reveal.setToolTip("Show the password while this is pressed in")
        self.reveal.setAccessibleName("show password")
        self.reveal.toggled.connect(self._on_reveal)
        self._url_lengths: dict[str, int] = {}  # per URL field, to tell a paste from a keystroke
        self._init_secrets(cam)
        for name in URL_FIELDS:
            edit = self._url_edit(name)
            edit.editingFinished.connect(lambda n=name: self._absorb(n))
            edit.textEdited.connect(lambda text, n=name: self._on_url_edited(n, text))
        self.password.textEdited.connect(self._on_password_edited)
        password_row = QHBoxLayout()
        password_row.addWidget(self.password, 1)
        password_row.addWidget(self.reveal)
        self.transport = QComboBox()
        self.transport.addItems(["tcp", "udp"])
        self.transport.setCurrentText(cam.transport if cam else "tcp")
        self.enabled = QCheckBox("enabled")
        self.enabled.setChecked(cam.enabled if cam else True)
        self.template = QComboBox()  # shown by name ("Live 4K HDR"); the key ("TPL_LIVE_4K_HDR") is what is stored
        for key in sorted(config.templates, key=lambda k: template_words(k, config.templates[k]).lower()):
            self.template.addItem(template_words(key, config.templates[key]), key)
        self.template.setCurrentIndex(max(0, self.template.findData(cam.template if cam else "default")))
        # recording and motion: what an operator sets when adding a camera (the rest stays in the file)
        self._recording = cam.recording if cam else CameraRecordingSettings()
        self._motion = cam.motion if cam else MotionSettings()
        self.recording = QComboBox()
        for mode, words in RECORDING_MODES.items():
            self.recording.addItem(words, mode)
        self.recording.setCurrentIndex(self.recording.findData(self._recording.mode))
        self.motion_on = QCheckBox("detect motion")
        self.motion_on.setChecked(self._motion.enabled)
        self.sensitivity = QSlider(Qt.Orientation.Horizontal)
        self.sensitivity.setRange(0, 100)
        self.sensitivity.setValue(round(self._motion.sensitivity * 100))
        self.sensitivity.setToolTip("0 = only big changes, 100 = every small change")
        motion_row = QHBoxLayout()
        motion_row.addWidget(self.motion_on)
        motion_row.addWidget(QLabel("sensitivity"))
        motion_row.addWidget(self.sensitivity, 1)
        form = QFormLayout()
        form.addRow("Name", self.name)
        form.addRow("Group / site", self.group)
        form.addRow("URL", self.url)
        form.addRow("Password", password_row)
        form.addRow("Sub-stream URL", self.sub_url)
        form.addRow("RTSP transport", self.transport)
        form.addRow("Health rules", self.template)
        form.addRow("Recording", self.recording)
        form.addRow("Motion", motion_row)
        form.addRow("", self.enabled)
        self.test_button = QPushButton("Test connection")
        self.test_button.clicked.connect(self.run_test)
        self.test_result = QLabel("")
        self.test_result.setTextFormat(Qt.TextFormat.PlainText)  # a camera's error text is never HTML
        self.test_result.setWordWrap(True)
        self.error = QLabel("")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        self.save_button = buttons.button(QDialogButtonBox.StandardButton.Save)
        test_row = QHBoxLayout()
        test_row.addWidget(self.test_button)
        test_row.addWidget(self.test_result, 1)
        lay = QVBoxLayout(self)
        lay.addLayout(form)
        lay.addLayout(test_row)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._tasks = TaskRunner(parent=self, name="ui:camera-test", max_workers=2, daemon=True)
        self._tests_started = 0
        self._test_id = 0
        self.test_ok: bool | None = None
        self.test_words = ""
        self._test_key: tuple[str, str] | None = None  # (url, transport) of the running test
        self._tested_key: tuple[str, str] | None = None  # ... of the last finished test
        self._save_pending = False  # Save was pressed: finish saving when the test reports
        self.confirm_box: QMessageBox | None = None

    # ------------------------------------------------------------------ passwords (never shown in clear)
    def _url_edit(self, name: str) -> QLineEdit:
        return self.url if name == "url" else self.sub_url

    def _init_secrets(self, cam: CameraConfig | None) -> None:
        """The URL fields show ``***`` for every secret; the first one is "the password" (password field);
        any other, different value is kept per (field, parameter) in ``_own``."""
        urls = {"url": cam.url if cam else "", "sub_url": (cam.sub_url or "") if cam else ""}
        slots = {n: secret_slots(u) for n, u in urls.items()}
        first = next((s.value for n in URL_FIELDS for s in slots[n]), "")
        self._password_raw = first  # as written in the URL (percent-encoded), or a reference not resolved
        self._own: dict[tuple[str, str], str] = {
            (n, s.name): s.value for n in URL_FIELDS for s in slots[n] if s.value != first
        }
        if ref_key(first):
            self.password.setPlaceholderText(f"{MISSING_WORDS}: type it here")
        else:
            self.password.setText(unquote(first))
        for n in URL_FIELDS:
            self._url_edit(n).setText(replace_slots(urls[n], [MASK] * len(slots[n])))
            self._url_lengths[n] = len(self._url_edit(n).text())

    def _on_reveal(self, shown: bool) -> None:
        self.password.setEchoMode(QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password)
        self.reveal.setText("Hide" if shown else "Show")

    def _on_password_edited(self, text: str) -> None:
        self._password_raw = quote(text, safe="")

    def _on_url_edited(self, name: str, text: str) -> None:
        # a paste (or a drop) adds several characters at once: move its password out of sight now; typed
        # character by character, it moves when the field is left (a half-typed value is not a password)
        before, self._url_lengths[name] = self._url_lengths.get(name, 0), len(text)
        if len(text) - before > 1:
            self._absorb(name)

    def _absorb(self, name: str) -> None:
        """Move every secret written in clear in a URL field out of it: the first becomes the password (in
        the main URL, unless a ``***`` there already stands for it; in the sub-stream URL when there is no
        password yet), the others are kept as that URL's own."""
        edit = self._url_edit(name)
        text = edit.text()
        slots = secret_slots(text)
        if all(s.value == MASK for s in slots):
            return
        has_password = any(s.value == MASK and (name, s.name) not in self._own for s in slots)
        no_password = not self._password_raw or ref_key(self._password_raw) is not None
        claimed = has_password or not (name == "url" or no_password)
        for s in slots:
            if s.value == MASK:
                continue
            if not claimed:
                self._password_raw, claimed = s.value, True
                self.password.setText(unquote(s.value))
                self.password.setPlaceholderText("")
            if s.value == self._password_raw:
                self._own.pop((name, s.name), None)
            else:
                self._own[(name, s.name)] = s.value
        edit.setText(replace_slots(text, [MASK] * len(slots)))
        self._url_lengths[name] = len(edit.text())

    def full_url(self, name: str = "url") -> str:
        """The URL of field *name* with its secrets in place: what is tested and saved (never shown)."""
        self._absorb(name)
        text = self._url_edit(name).text().strip()
        slots = secret_slots(text)
        values = [self._own.get((name, s.name), self._password_raw) for s in slots]
        full = replace_slots(text, values)
        pw = self._password_raw
        if not slots and pw and not ref_key(pw):
            # "rtsp://admin@host/x" and a password: it goes in the userinfo
            head, sep, rest = full.partition("://")
            netloc = rest.split("/", 1)[0].split("?", 1)[0].split("#", 1)[0]
            if sep and "@" in netloc and ":" not in netloc.rsplit("@", 1)[0]:
                user = netloc.rsplit("@", 1)[0]
                full = f"{head}://{user}:{pw}@{rest[len(user) + 1 :]}"
        return full

    def _fields(self) -> dict:
        d = {
            "name": self.name.text().strip(),
            "group": self.group.text().strip(),
            "url": self.full_url("url"),
            "sub_url": self.full_url("sub_url") or None,
            "transport": self.transport.currentText(),
            "enabled": self.enabled.isChecked(),
            "template": self.template.currentData(),
            "recording": {**self._recording.model_dump(), "mode": self.recording.currentData()},
            "motion": {
                **self._motion.model_dump(),
                "enabled": self.motion_on.isChecked(),
                "sensitivity": self.sensitivity.value() / 100.0,
            },
        }
        if self._editing:
            d["id"] = self._editing
        return d

    def validate(self) -> CameraConfig | None:
        """The camera, or None with the reasons shown in words."""
        try:
            base = self._config.camera(self._editing) if self._editing else None
        except KeyError:
            base = None
        try:
            if base is not None:
                cam = CameraConfig.model_validate({**base.model_dump(), **self._fields()})
            else:
                cam = CameraConfig.model_validate(self._fields())
        except ValidationError as e:
            self.error.setText(validation_words(e))
            return None
        taken = {c.id for c in self._config.cameras if c.id != self._editing}
        if cam.id in taken:
            self.error.setText(f"another camera already has the id {cam.id!r}: choose another name")
            return None
        self.error.setText("")
        return cam

    def run_test(self) -> None:
        url = self.full_url("url")
        if not url:
            self.test_result.setText("enter a URL first")
            return
        self.test_ok = None
        self.test_button.setEnabled(False)
        self.test_result.setObjectName("")
        self.test_result.setStyleSheet("")
        self.test_result.setText(f"testing {mask_url(url)} …")
        self._test_key = key = (url, self.transport.currentText())
        self._tests_started += 1
        self._test_id = rid = self._tests_started
        secrets = (url_password(url) or "", *url_secrets(url))
        self._tasks.run(
            lambda: test_connection(*key),
            lambda result: self._on_test_finished(rid, *result),
            # test_connection answers in words; should it raise anyway, Save must not wait forever
            lambda e: self._on_test_finished(rid, False, scrub(f"the test failed: {type(e).__name__}: {e}", secrets)),
        )

    def _on_test_finished(self, rid: int, ok: bool, words: str) -> None:
        if rid != self._test_id:
            return  # an older test finished after a newer one started
        self.test_ok = ok
        self.test_words = words
        self._tested_key = self._test_key
        self.test_button.setEnabled(True)
        self.test_result.setObjectName("ok" if ok else "error")
        self.test_result.setStyleSheet("color: #4ade80;" if ok else "color: #ff6b6b;")
        self.test_result.setText(words)
        if self._save_pending:
            self._save_pending = False
            self.save_button.setEnabled(True)
            self.accept()  # validates again: the fields may have changed while the test ran

    @property
    def saving(self) -> bool:
        """Save was pressed and waits for the connection test."""
        return self._save_pending

    def accept(self) -> None:
        cam = self.validate()
        if cam is None or self._save_pending:
            return
        if not cam.enabled:
            self._save(cam)  # switched off on purpose: nothing to connect to now
            return
        key = (cam.url, cam.transport)
        if self._tested_key != key or self.test_ok is None:
            # not tested (or tested with another URL): test now, in the background, then come back here
            self._save_pending = True
            self.save_button.setEnabled(False)
            self.run_test()
            self.test_result.setText(f"testing {mask_url(cam.url)} before saving …")
            return
        if self.test_ok:
            self._save(cam)
        else:
            self._ask_save_anyway(cam)

    def _ask_save_anyway(self, cam: CameraConfig) -> None:
        """Non-blocking question (``open()``, not ``exec()``): the wall keeps painting meanwhile."""
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            "Save anyway?",
            f"The connection test of {mask_url(cam.url)} failed:\n\n{self.test_words}\n\n"
            "Save this camera anyway? The wall will keep retrying it and show why it is down.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)
        box.button(QMessageBox.StandardButton.Yes).setText("Save anyway")
        box.button(QMessageBox.StandardButton.No).setText("Keep editing")

        def answered(_result: int) -> None:
            self.confirm_box = None
            if box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes:
                again = self.validate()
                if again is not None:
                    self._save(again)
            box.deleteLater()  # one box per question: do not keep them all until the dialog goes

        box.finished.connect(answered)
        self.confirm_box = box
        box.open()

    def _save(self, cam: CameraConfig) -> None:
        self._result = cam
        super().accept()

    def reject(self) -> None:
        """Cancel also cancels a save waiting for its connection test: the late result must not save."""
        if self._save_pending:
            self._save_pending = False
            self._test_id = -1  # no test has this number: the running test's late result is ignored
            self.save_button.setEnabled(True)
            self.test_button.setEnabled(True)
            self.test_result.setText("")
        super().reject()

    def camera(self) -> CameraConfig | None:
        return self._result


class CameraManagerDialog(QDialog):
    """The camera list. Emits ``config_accepted(AppConfig)`` with the validated new config on Save."""

    config_accepted = Signal(object)

    def __init__(self, config: AppConfig, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Cameras")
        self.resize(720, 480)
        self._original = config
        self.cameras: list[CameraConfig] = [c.model_copy(deep=True) for c in config.cameras]
        self.list = QListWidget()
        self.list.itemDoubleClicked.connect(lambda _i: self.edit_selected())
        add = QPushButton("Add…")
        add.clicked.connect(self.add_camera)
        edit = QPushButton("Edit…")
        edit.clicked.connect(self.edit_selected)
        remove = QPushButton("Remove")
        remove.clicked.connect(self.remove_selected)
        toggle = QPushButton("Enable / disable")
        toggle.clicked.connect(self.toggle_selected)
        side = QVBoxLayout()
        for b in (add, edit, remove, toggle):
            side.addWidget(b)
        side.addStretch(1)
        row = QHBoxLayout()
        row.addWidget(self.list, 1)
        row.addLayout(side)
        self.error = QLabel("")
        self.error.setTextFormat(Qt.TextFormat.PlainText)
        self.error.setObjectName("error")
        self.error.setWordWrap(True)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        lay = QVBoxLayout(self)
        lay.addLayout(row)
        lay.addWidget(self.error)
        lay.addWidget(buttons)
        self._editor: CameraEditDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self._refresh()

    def _refresh(self) -> None:
        row = self.list.currentRow()
        self.list.clear()
        for c in self.cameras:
            state = "" if c.enabled else "  [disabled]"
            group = f" · {c.group}" if c.group else ""
            item = QListWidgetItem(f"{c.name}{group} — {mask_url(c.url)}{state}")
            item.setData(Qt.ItemDataRole.UserRole, c.id)
            self.list.addItem(item)
        if self.cameras:
            self.list.setCurrentRow(max(0, min(row, len(self.cameras) - 1)))

    def _selected_index(self) -> int | None:
        r = self.list.currentRow()
        return r if 0 <= r < len(self.cameras) else None

    def _working_config(self) -> AppConfig:
        return self._original.model_copy(update={"cameras": list(self.cameras)})

    def add_camera(self) -> CameraEditDialog:
        return self._open_editor(None)

    def edit_selected(self) -> CameraEditDialog | None:
        i = self._selected_index()
        return None if i is None else self._open_editor(self.cameras[i])

    def _open_editor(self, cam: CameraConfig | None) -> CameraEditDialog:
        dlg = CameraEditDialog(self._working_config(), cam, self)
        dlg.accepted.connect(lambda: self._editor_done(dlg, cam.id if cam else None))
        self._editor = dlg
        dlg.open()
        return dlg

    def _editor_done(self, dlg: CameraEditDialog, old_id: str | None) -> None:
        new = dlg.camera()
        if new is None:
            return
        if old_id is None:
            self.cameras.append(new)
        else:
            self.cameras = [new if c.id == old_id else c for c in self.cameras]
        self._refresh()

    def remove_selected(self) -> QMessageBox | None:
        """Asks first (``confirm_box``, non-modal); Remove there takes the camera out of the list."""
        i = self._selected_index()
        if i is None:
            return None
        cam = self.cameras[i]
        box = QMessageBox(QMessageBox.Icon.Question, "Remove camera",
                          f"Remove {cam.name} from the wall? Its recordings stay on disk, and nothing changes "
                          "until the camera list is saved.", QMessageBox.StandardButton.Cancel, self)  # fmt: skip
        remove = box.addButton("Remove", QMessageBox.ButtonRole.DestructiveRole)
        remove.clicked.connect(lambda: self._remove(cam.id))
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.open()
        self.confirm_box = box
        return box

    def _remove(self, camera_id: str) -> None:
        self.cameras = [c for c in self.cameras if c.id != camera_id]
        self._refresh()

    def toggle_selected(self) -> None:
        i = self._selected_index()
        if i is not None:
            c = self.cameras[i]
            self.cameras[i] = c.model_copy(update={"enabled": not c.enabled})
            self._refresh()

    def result_config(self) -> AppConfig | None:
        try:
            data = self._original.model_dump()
            data["cameras"] = [c.model_dump() for c in self.cameras]
            cfg = parse_config(data, "camera list")
        except ConfigError as e:
            self.error.setText(str(e))
            return None
        self.error.setText("")
        return cfg

    def accept(self) -> None:
        cfg = self.result_config()
        if cfg is not None:
            self.config_accepted.emit(cfg)
            super().accept()
