"""The operator who signs acknowledgements (Alarms > Change operator…) and the alarm sound's words in the status
bar, on the real MainWindow with the real alarm UI (install_alarm_ui), a real AlertEngine and store.

The sound itself is tested against a real sound server in test_alarm_sound_lab.py; here the test process has
no sound server, so the real AlarmSound finds no output device, and the status bar must say so."""

from __future__ import annotations

import wave

import numpy as np
import pytest
from PySide6.QtWidgets import QInputDialog

from app.compose import add_alerts, add_store
from app.demo import demo_config
from app.paths import Paths
from app.pipeline.state import HealthSnapshot, StreamState
from app.runtime import Runtime
from widgets.alarm_panel import NOT_HEARD, AlarmSound, install_alarm_ui, operator_name, read_wav
from widgets.main_window import MainWindow

WAIT = 10_000


@pytest.fixture
def alarm_window(qtbot, tmp_path):
    """(window, panel, engine, fire) on a demo config; fire() raises CameraOffline on the first camera."""
    runtime = Runtime(config=demo_config(), paths=Paths.resolve(tmp_path / "vigil.json", tmp_path), demo=True)
    store = add_store(runtime)
    engine = add_alerts(runtime)
    engine.settings.debounce_s = 0
    engine._eval.debounce_s = 0
    store.start()
    window = MainWindow(runtime)
    qtbot.addWidget(window)
    panel = install_alarm_ui(window, runtime)
    cam = runtime.config.cameras[0]

    def fire() -> None:
        engine._snapshots = lambda: {cam.id: HealthSnapshot(camera_id=cam.id, name=cam.name,
                                                            state=StreamState.OFFLINE, reason="refused")}  # fmt: skip
        engine.evaluate_once()
        qtbot.waitUntil(lambda: panel.tree.topLevelItemCount() == 1, timeout=WAIT)

    yield window, panel, engine, fire
    panel.sound.checked.wait(30)  # PortAudio's start-up swaps fd 2 (sounddevice): not while pytest swaps it too
    panel.shutdown()
    window.shutdown()
    store.stop()


def alarms_action(window, text: str):
    return next(a for a in window.menu("&Alarms").actions() if a.text() == text)


def test_change_operator_signs_the_next_acknowledgement_and_shows_in_the_status_bar(qtbot, alarm_window):
    window, panel, engine, fire = alarm_window
    assert panel.who == operator_name()  # the OS account's full name (GECOS), else the login
    assert window.operator_label.text() == f"Operator: {operator_name()}"
    alarms_action(window, "Change operator…").trigger()  # returns at once: the dialog is open(), not exec()
    dlg = panel.operator_dialog
    assert isinstance(dlg, QInputDialog) and dlg.isVisible() and dlg.textValue() == operator_name()
    alarms_action(window, "Change operator…").trigger()
    assert panel.operator_dialog is dlg  # one question at a time
    dlg.setTextValue("  Dewi   Lestari ")
    dlg.accept()
    assert panel.who == "Dewi Lestari"
    assert window.operator_label.text() == "Operator: Dewi Lestari" and not window.operator_label.isHidden()
    fire()
    alert = engine.active()[0]
    assert panel.acknowledge_selected([alert.id], "on my way") == 1
    acked = engine.active()[0]
    assert (acked.acknowledged_by, acked.ack_note) == ("Dewi Lestari", "on my way")
    assert "acknowledged by Dewi Lestari" in panel.tree.topLevelItem(0).text(4)
    assert panel.shelve_selected(15, [alert.id], "road works") == 1
    assert engine.active()[0].shelved_by == "Dewi Lestari"
    # a blank name is refused: the operator stays
    alarms_action(window, "Change operator…").trigger()
    panel.operator_dialog.setTextValue("   ")
    panel.operator_dialog.accept()
    assert panel.who == "Dewi Lestari" and window.operator_label.text() == "Operator: Dewi Lestari"


def test_the_status_bar_says_in_red_why_alarms_would_not_be_heard(qtbot, alarm_window):
    window, panel, _engine, _fire = alarm_window
    label = window.sound_label
    assert panel.sound.checked.wait(30)
    # no sound server in the test process: the real PortAudio finds no output device (or, on a machine
    # without libportaudio2, the library is missing); either way the words reach the status bar
    qtbot.waitUntil(lambda: label.text() == panel.sound.status_words, timeout=WAIT)
    words = panel.sound.status_words
    assert words and words.endswith(NOT_HEARD) and not label.isHidden(), words
    assert "#ff6b6b" in label.styleSheet()  # red, like the store's warning
    alarms_action(window, "Mute alarm sound").trigger()
    assert panel.sound.muted
    assert label.text() == f"Alarm sound muted: {NOT_HEARD}" and not label.isHidden()
    alarms_action(window, "Mute alarm sound").trigger()
    qtbot.waitUntil(lambda: label.text() == words, timeout=WAIT)
    panel.sound.enabled = False  # alerts.sound off
    qtbot.waitUntil(lambda: label.text() == "Alarm sound off (alerts.sound)", timeout=WAIT)
    window.set_alarm_sound_status("")  # heard: the label goes away
    assert label.isHidden() and label.text() == ""


def test_a_disabled_sound_says_so_and_starts_no_worker():
    sound = AlarmSound(enabled=False)
    assert sound.status_words == "Alarm sound off (alerts.sound)"
    assert sound.tick(True, now=1000.0) is False and sound.played == 0
    assert sound._thread is None


def test_an_unreadable_sound_file_is_said_in_words(tmp_path):
    bad = tmp_path / "alarm.wav"
    bad.write_bytes(b"not a wave file")
    sound = AlarmSound(enabled=True, wav=str(bad))
    try:
        assert sound.checked.wait(30)
        assert sound.status_words.startswith(f"Alarm sound file {bad} cannot be read")
        assert sound.status_words.endswith(NOT_HEARD) and sound.route == "beep"
    finally:
        sound.close(wait_s=5)


@pytest.mark.parametrize("width", [1, 2, 3, 4])
def test_read_wav_decodes_pcm_of_every_width_to_floats(tmp_path, width):
    want = np.array([[0.0, -0.5], [0.25, 0.75], [-1.0, 0.5]])
    if width == 1:
        raw = np.round(want * 128 + 128).clip(0, 255).astype(np.uint8).tobytes()
    elif width == 3:
        ints = np.round(want * 2**23).clip(-(2**23), 2**23 - 1).astype("<i4")
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.ravel())
    else:
        bits = 8 * width - 1
        raw = np.round(want * 2**bits).clip(-(2**bits), 2**bits - 1).astype(f"<i{width}").tobytes()
    path = tmp_path / f"w{width}.wav"
    with wave.open(str(path), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(width)
        w.setframerate(8000)
        w.writeframes(raw)
    samples, rate = read_wav(path)
    assert rate == 8000 and samples.shape == (3, 2) and samples.dtype == np.float32
    np.testing.assert_allclose(samples, want, atol=1 / 64 if width == 1 else 1e-4)


def test_the_shipped_alarm_decodes():
    samples, rate = read_wav(AlarmSound(enabled=False).wav)
    assert rate == 22050 and samples.shape == (17640, 1) and 0.45 < np.abs(samples).max() < 0.51
