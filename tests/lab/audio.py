"""A sound server for the alarm-sound tests: PulseAudio with a null sink, and a recorder on its monitor.

These machines have no sound card. ``PulseAudioServer`` runs its own ``pulseaudio`` (never a session's
server) on a private runtime dir, with one null sink and the native protocol on a unix socket in that dir::

    with PulseAudioServer(run_dir) as pulse, SinkRecorder(pulse) as rec:
        subprocess.run([...], env=pulse.client_env())   # the program under test plays
        rec.loud_seconds()                              # what reached the sink, in seconds of sound

How a program reaches it: ``client_env()`` is the environment for a *child* process (nothing is set in the
test process): ``PULSE_SERVER`` names the socket, ``PULSE_CLIENTCONFIG`` turns autospawn off (a client never
starts a server of its own), and ``HOME`` is a private folder whose ``.asoundrc`` points ALSA's ``default``
at the pulse plugin (Debian ``libasound2-plugins``). So PortAudio, which has no PulseAudio backend in
Debian 12 (19.6), plays through ALSA → pulse plugin → this server. The same environment with the server
stopped is a machine where no output device exists: the plugin cannot connect and PortAudio lists none.

As root: pulseaudio warns "not intended to be run as root (unless --system is specified)" and runs all the
same in per-user mode (checked on Debian 12, PulseAudio 16.1); ``--system`` is not needed and would use the
system-wide runtime dir. ``-n`` loads no default script (no hardware detection, no idle suspend), so the null
sink stays and is the default sink. Anonymous auth on the socket: only this machine's processes reach a
socket in a private 0700 folder anyway.

The recorder is ``parec`` on ``<sink>.monitor`` (raw s16le mono written straight to a file as it arrives),
started and stopped by PID like every lab process; a null sink's monitor is exact zeros when nothing plays.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np

from tests.lab.servers import ManagedProcess, ServerStartError, require

ASOUNDRC = """# written by tests/lab/audio.py: ALSA's default device is the PulseAudio server named by PULSE_SERVER
pcm.!default { type pulse }
ctl.!default { type pulse }
"""
CLIENT_CONF = "autospawn = no\n"
SOCKET_PATH_MAX = 100  # sun_path is 108 bytes


class PulseAudioServer(ManagedProcess):
    """``pulseaudio`` with one null sink, on its own runtime dir; ``client_env()`` reaches it."""

    name = "pulseaudio"
    ready_timeout = 20.0

    def __init__(self, run_dir, sink: str = "vigil_null", name: str | None = None):
        super().__init__(run_dir, name)
        self.sink = sink
        base = self.run_dir / self.name
        if len(str(base / "runtime" / "native")) > SOCKET_PATH_MAX:
            base = Path(tempfile.mkdtemp(prefix="vigil-pulse-"))
        self.base_dir = base
        self.runtime_dir = base / "runtime"
        self.home = base / "home"
        self.socket = self.runtime_dir / "native"

    def _prepare(self):
        require("pulseaudio", "pactl")
        self._write_dirs()
        self.socket.unlink(missing_ok=True)  # a killed server leaves its socket

    def _write_dirs(self) -> None:
        for d in (self.runtime_dir, self.home):
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o700)
        (self.home / ".asoundrc").write_text(ASOUNDRC)
        (self.home / "client.conf").write_text(CLIENT_CONF)

    def _command(self):
        return [
            "pulseaudio",
            "-n",
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--log-target=stderr",
            "--log-level=notice",
            "-L",
            f"module-null-sink sink_name={self.sink}",
            "-L",
            f"module-native-protocol-unix auth-anonymous=1 socket={self.socket}",
        ]

    def _server_env(self) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("PULSE_", "DBUS_"))}
        return {**env, "HOME": str(self.home), "XDG_RUNTIME_DIR": str(self.runtime_dir),
                "PULSE_RUNTIME_PATH": str(self.runtime_dir)}  # fmt: skip

    def _popen_kwargs(self):
        return {"env": self._server_env(), "cwd": str(self.base_dir)}

    def _is_ready(self):
        if not self.socket.exists():
            return False
        r = subprocess.run(["pactl", "info"], env=self.client_env(), capture_output=True, timeout=5)
        return r.returncode == 0

    def client_env(self, base: dict | None = None) -> dict:
        """The environment of a client process that plays on this server (or finds no device while it is
        stopped). Only for children: the test process keeps its own."""
        self._write_dirs()
        env = {k: v for k, v in (os.environ if base is None else base).items() if not k.startswith("PULSE_")}
        env.pop("DBUS_SESSION_BUS_ADDRESS", None)
        env.pop("ALSA_CONFIG_PATH", None)
        env.update(HOME=str(self.home), XDG_RUNTIME_DIR=str(self.runtime_dir), PULSE_SERVER=f"unix:{self.socket}")
        env["PULSE_CLIENTCONFIG"] = str(self.home / "client.conf")
        return env

    def pactl(self, *args: str) -> str:
        r = subprocess.run(["pactl", *args], env=self.client_env(), capture_output=True, text=True, timeout=10)
        if r.returncode != 0:
            raise ServerStartError(f"pactl {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def sink_inputs(self) -> list[dict]:
        """The streams playing into the server now (``pactl --format=json list sink-inputs``)."""
        return json.loads(self.pactl("--format=json", "list", "sink-inputs") or "[]")

    def sink_inputs_of(self, pid: int) -> list[dict]:
        """The streams a given client process (by PID) is playing now."""
        return [s for s in self.sink_inputs() if s.get("properties", {}).get("application.process.id") == str(pid)]

    def destroy(self) -> None:
        """Stop and delete its runtime dir and home (a later start() makes them again)."""
        self.stop()
        shutil.rmtree(self.base_dir, ignore_errors=True)

    def __exit__(self, *exc) -> None:
        self.destroy()


class SinkRecorder(ManagedProcess):
    """``parec`` on the server's null-sink monitor into a raw file (s16le mono); read it while it records."""

    name = "parec"
    ready_timeout = 10.0

    def __init__(self, server: PulseAudioServer, rate: int = 22050, name: str | None = None):
        super().__init__(server.run_dir, name or f"parec_{server.name}")
        self.server, self.rate = server, rate
        self.path = self.run_dir / f"{self.name}.raw"

    def _prepare(self):
        require("parec")
        self.path.unlink(missing_ok=True)

    def _command(self):
        return ["parec", "-d", f"{self.server.sink}.monitor", "--raw", "--format=s16le", f"--rate={self.rate}",
                "--channels=1", "--latency-msec=20", str(self.path)]  # fmt: skip

    def _popen_kwargs(self):
        return {"env": self.server.client_env()}

    def _is_ready(self):
        outputs = json.loads(self.server.pactl("--format=json", "list", "source-outputs") or "[]")
        return any(o.get("properties", {}).get("application.process.id") == str(self.pid) for o in outputs)

    def samples(self) -> np.ndarray:
        """Everything recorded so far, as floats in [-1, 1)."""
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return np.zeros(0, np.float32)
        return np.frombuffer(raw[: len(raw) // 2 * 2], "<i2").astype(np.float32) / 32768.0

    def loud_seconds(self, threshold: float = 0.01, window_s: float = 0.01) -> float:
        """Seconds of the recording whose RMS (in *window_s* windows) is above *threshold* of full scale."""
        return loud_seconds(self.samples(), self.rate, threshold, window_s)


def loud_seconds(samples: np.ndarray, rate: int, threshold: float = 0.01, window_s: float = 0.01) -> float:
    """Seconds of *samples* (mono floats) whose RMS in *window_s* windows is above *threshold*."""
    n = max(1, int(rate * window_s))
    usable = len(samples) // n * n
    if not usable:
        return 0.0
    rms = np.sqrt((samples[:usable].reshape(-1, n).astype(np.float64) ** 2).mean(axis=1))
    return float((rms > threshold).sum() * n / rate)
