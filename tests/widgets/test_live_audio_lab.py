"""The focused camera's sound against a real sound server: a PulseAudio null sink recorded on its monitor
(tests/lab/audio.py), so "it plays" means samples above silence reached the sink, not a counter.

The camera is the lab's GStreamer RTSP server with an AAC 440 Hz tone (volume 0.3) next to its H.264 picture.
The window runs in a child (tests/widgets/live_audio_child.py) under the server's client environment; every
wait is a bounded poll.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import _start
from tests.helpers import wait_for
from tests.lab import PulseAudioServer, SinkRecorder
from widgets.live_audio import NO_DEVICE

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab
LISTEN_S = 3.0


class LiveAudioChild:
    """tests/widgets/live_audio_child.py: one MainWindow in its own process, one JSON answer per command."""

    def __init__(self, env: dict, log: Path, url: str) -> None:
        self.log = log
        self._err = open(log, "w")  # noqa: SIM115 - closed in close()
        env = {**env, "QT_QPA_PLATFORM": "offscreen"}
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.widgets.live_audio_child", "--url", url], cwd=ROOT,
                                     env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err,
                                     text=True, start_new_session=True)  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self, command: str, timeout: float = 60.0) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line, f"live audio child gave no answer to {command!r}; its log:\n{self.log.read_text()[-3000:]}"
        return json.loads(line)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.ask("quit", timeout=20)
                self.proc.wait(10)
        except (AssertionError, OSError, subprocess.TimeoutExpired):
            pass
        finally:
            if self.proc.poll() is None:
                self.proc.kill()  # by its PID: only the child this test started
                self.proc.wait(5)
            self._err.close()


@pytest.fixture
def pulse(tmp_path):
    srv = PulseAudioServer(tmp_path, name="pulse")
    yield srv
    srv.destroy()


@pytest.fixture
def child(pulse, tmp_path):
    made: list[LiveAudioChild] = []

    def make(url: str) -> LiveAudioChild:
        c = LiveAudioChild(pulse.client_env(), tmp_path / f"live_audio_child_{len(made)}.log", url)
        made.append(c)
        return c

    yield make
    for c in made:
        c.close()


@pytest.fixture
def aac_camera(rtsp_server_factory):
    return rtsp_server_factory(audio="aac").url(1)


def test_the_focused_camera_is_heard_when_unmuted_and_not_heard_when_muted(pulse, child, aac_camera):
    _start(pulse)
    rec = _start(SinkRecorder(pulse, rate=22050))
    try:
        win = child(aac_camera)
        st = win.ask("focus")
        assert st["ok"] and st["samples"] > 0 and st["words"] == "", st
        assert st["muted"] is True and st["playing"] is False  # off until the operator asks for it
        time.sleep(LISTEN_S)
        assert rec.loud_seconds() == 0.0  # muted: the sink heard nothing
        assert not pulse.sink_inputs_of(win.pid)  # and the device is not even held
        st = win.ask("unmute")
        assert st["ok"] and st["playing"] and st["words"] == "" and st["device"], st
        wait_for(lambda: pulse.sink_inputs_of(win.pid), timeout=10, what="the live audio stream on the server")
        t0 = time.monotonic()
        wait_for(lambda: rec.loud_seconds() > 0.5 * LISTEN_S, timeout=15, what=f"{LISTEN_S / 2} s of the camera's tone")
        heard_in = time.monotonic() - t0
        before = rec.loud_seconds()
        time.sleep(1.0)
        assert rec.loud_seconds() > before + 0.5  # still playing, continuously
        peak = float(np.abs(rec.samples()).max())
        assert 0.2 < peak < 0.4, peak  # the camera's own level (its tone peaks at 0.3): not clipped, not faint
        print(f"live audio: heard {heard_in:.2f} s after the stream opened, peak {peak:.3f}", file=sys.stderr)
        st = win.ask("mute")
        assert st["ok"] and st["muted"] and not st["playing"], st
        wait_for(lambda: not pulse.sink_inputs_of(win.pid), timeout=10, what="the stream closed at mute")
        time.sleep(0.5)  # what the server still had buffered
        after_mute = rec.loud_seconds()
        time.sleep(LISTEN_S)
        assert rec.loud_seconds() - after_mute < 0.05, (after_mute, rec.loud_seconds())  # muted: no more sound
        assert heard_in < 15
    finally:
        rec.stop()


def test_with_the_sound_server_stopped_the_words_say_there_is_no_output_device(pulse, child, aac_camera):
    win = child(aac_camera)  # the server never started: ALSA's pulse plugin finds nothing, PortAudio lists none
    st = win.ask("focus")
    assert st["ok"] and st["samples"] > 0, st  # the camera's audio is decoded all the same (the meter moves)
    st = win.ask("unmute")
    assert st["words"] == NO_DEVICE and not st["playing"], st
    assert st["level"] is not None
