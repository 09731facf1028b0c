"""The alarm sound against a real sound server: a PulseAudio null sink (tests/lab/audio.py) recorded on its
monitor, so "the alarm sounded" means samples above silence reached the sink, not a counter.

Each test runs one real AlarmSound in a child process (tests/widgets/sound_child.py) under the server's client
environment; the repeat interval is driven through ``tick(now=...)``; every wait is a bounded poll.
"""

from __future__ import annotations

import json
import select
import subprocess
import sys
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import _start
from tests.helpers import wait_for
from tests.lab import PulseAudioServer, SinkRecorder, require
from tests.lab.audio import loud_seconds
from widgets.alarm_panel import NOT_HEARD, REPEAT_S, read_wav

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.lab

SAMPLES, RATE = read_wav(ROOT / "resources" / "sounds" / "alarm.wav")
ONE_PLAY_S = loud_seconds(SAMPLES[:, 0], RATE)  # 0.8 s of the shipped two-tone sound
NO_DEVICE = f"No audio output device: {NOT_HEARD}"


class SoundChild:
    """tests/widgets/sound_child.py: one AlarmSound in its own process, one JSON answer per command."""

    def __init__(self, env: dict, log: Path, *args: str) -> None:
        self.log = log
        self._err = open(log, "w")  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen([sys.executable, "-m", "tests.widgets.sound_child", *args], cwd=ROOT, env=env,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._err, text=True,
                                     start_new_session=True)  # fmt: skip

    @property
    def pid(self) -> int:
        return self.proc.pid

    def ask(self, command: str, timeout: float = 40.0) -> dict:
        self.proc.stdin.write(command + "\n")
        self.proc.stdin.flush()
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line, f"sound child gave no answer to {command!r}; its log:\n{self.log.read_text()[-3000:]}"
        return json.loads(line)

    def close(self) -> None:
        try:
            if self.proc.poll() is None:
                self.ask("quit", timeout=15)
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
    """A PulseAudioServer, not started: a test starts it (or keeps it stopped: no output device)."""
    srv = PulseAudioServer(tmp_path, name="pulse")
    yield srv
    srv.destroy()


@pytest.fixture
def sound_child(pulse, tmp_path):
    """make(*args, env=None) -> a SoundChild in the server's client environment; all closed after the test."""
    made: list[SoundChild] = []

    def make(*args: str, env: dict | None = None) -> SoundChild:
        env = pulse.client_env() if env is None else env
        env["QT_QPA_PLATFORM"] = "offscreen"
        child = SoundChild(env, tmp_path / f"sound_child_{len(made)}.log", *args)
        made.append(child)
        return child

    yield make
    for c in made:
        c.close()


@pytest.fixture
def recorder(pulse):
    """start() -> a SinkRecorder on the (started) server's null sink; stopped after the test."""
    made: list[SinkRecorder] = []

    def start() -> SinkRecorder:
        rec = SinkRecorder(pulse, rate=RATE)
        made.append(rec)
        return _start(rec)

    yield start
    for r in made:
        r.stop()


def long_wav(path: Path, seconds: float = 6.0, rate: int = 22050) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    pcm = (0.4 * np.sin(2 * np.pi * 660 * t) * 32767).astype("<i2")
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(pcm.tobytes())
    return path


def test_an_alarm_is_heard_on_the_sound_server_and_repeats_after_the_interval(pulse, sound_child, recorder):
    _start(pulse)
    rec = recorder()
    child = sound_child()
    st = child.ask("checked")
    assert st["ok"] and st["words"] == "" and st["route"] == "portaudio" and st["device"], st
    assert rec.loud_seconds() == 0.0  # the null sink is silent until the alarm plays
    assert child.ask("tick 1000")["ok"] is True
    wait_for(lambda: pulse.sink_inputs_of(child.pid), timeout=10, what="the alarm's stream on the server")
    wait_for(lambda: rec.loud_seconds() >= 0.75 * ONE_PLAY_S, timeout=10, what="one alarm's worth of sound")
    wait_for(lambda: not pulse.sink_inputs_of(child.pid), timeout=10, what="the stream closed after the play")
    first = rec.loud_seconds()
    assert first <= 1.25 * ONE_PLAY_S, first  # one play, not two
    st = child.ask(f"tick {1000 + REPEAT_S - 0.5}")
    assert st["ok"] is False and st["played"] == 1  # not yet: it repeats every REPEAT_S
    st = child.ask(f"tick {1000 + REPEAT_S}")
    assert st["ok"] is True and st["played"] == 2
    wait_for(lambda: rec.loud_seconds() >= first + 0.75 * ONE_PLAY_S, timeout=10, what="the repeat heard")
    peak = float(np.abs(rec.samples()).max())
    assert 0.3 < peak < 0.6, peak  # the file's own level (peak 0.5, resampled twice): not clipped, not faint


def test_mute_and_acknowledgement_silence_a_sound_that_is_playing(pulse, sound_child, recorder, tmp_path):
    _start(pulse)
    rec = recorder()
    child = sound_child("--wav", str(long_wav(tmp_path / "long.wav", seconds=6.0)))
    assert child.ask("checked")["words"] == ""
    for silence, t in (("mute", 1000), ("tick-off", 2000)):  # Mute button; the last alarm acknowledged
        if silence == "tick-off":
            child.ask("unmute")
        t0 = time.monotonic()
        assert child.ask(f"tick {t}")["ok"] is True
        wait_for(lambda: pulse.sink_inputs_of(child.pid), timeout=10, what="the 6 s sound playing")
        st = child.ask(silence)
        if silence == "mute":
            assert st["words"] == f"Alarm sound muted: {NOT_HEARD}", st
        wait_for(lambda: not pulse.sink_inputs_of(child.pid), timeout=3, what=f"the sound stopped by {silence}")
        assert time.monotonic() - t0 < 5.0  # stopped, not played out
        assert not child.ask("status")["playing"]
    assert rec.loud_seconds() < 2 * 5.0


def test_without_a_sound_server_it_says_alarms_are_not_heard_until_one_appears(pulse, sound_child, recorder):
    child = sound_child("--recheck-s", "0.5")  # the server is not running: ALSA's pulse device cannot open
    st = child.ask("checked")
    assert (st["words"], st["route"]) == (NO_DEVICE, "beep"), st
    assert child.ask("tick 1000")["ok"] is True  # still counted (and beeped): the panel keeps its contract
    _start(pulse)  # a sound server started after Vigil (as a speaker plugged in): found at the next check
    st = wait_for(lambda: (s := child.ask("status"))["route"] == "portaudio" and s, timeout=20, what="device found")
    assert st["words"] == "", st
    rec = recorder()
    assert child.ask(f"tick {1000 + REPEAT_S}")["ok"] is True
    wait_for(lambda: rec.loud_seconds() >= 0.75 * ONE_PLAY_S, timeout=10, what="the alarm heard after all")
    wait_for(lambda: not child.ask("status")["playing"], timeout=10, what="the play finished")
    rec.stop()
    pulse.stop()  # and when the device goes away again, it is said again
    wait_for(lambda: child.ask("status")["words"] == NO_DEVICE, timeout=20, what="device gone said")


def test_without_portaudio_it_plays_through_paplay_and_says_the_library_is_missing(pulse, sound_child, recorder):
    require("paplay")
    _start(pulse)
    rec = recorder()
    child = sound_child("--no-portaudio")
    st = child.ask("checked")
    assert st["route"] == "paplay", st
    assert st["words"].startswith("Sound library missing: PortAudio not found (PortAudio library not found"), st
    assert st["words"].endswith("; alarms play through paplay"), st
    assert child.ask("tick 1000")["ok"] is True
    wait_for(lambda: rec.loud_seconds() >= 0.75 * ONE_PLAY_S, timeout=10, what="the alarm heard through paplay")


def test_without_portaudio_a_failing_player_or_no_player_is_said_in_words(pulse, sound_child, tmp_path):
    require("paplay")
    child = sound_child("--no-portaudio")  # paplay is there, the sound server is not: paplay exits 1
    assert child.ask("checked")["route"] == "paplay"
    assert child.ask("tick 1000")["ok"] is True
    st = wait_for(lambda: "failed" in (s := child.ask("status"))["words"] and s, timeout=10, what="paplay failure")
    assert st["words"].endswith(f"; paplay failed (exit 1): {NOT_HEARD}"), st
    empty = tmp_path / "no-players"
    empty.mkdir()
    child = sound_child("--no-portaudio", env={**pulse.client_env(), "PATH": str(empty)})
    st = child.ask("checked")
    assert st["route"] == "beep", st
    assert st["words"].endswith(f"; no paplay/pw-play/aplay: {NOT_HEARD}"), st
    assert child.ask("tick 1000")["ok"] is True and child.ask("status")["played"] == 1
