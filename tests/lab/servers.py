"""Real stream servers on 127.0.0.1 for Vigil's tests and benchmarks.

No pytest dependency: benchmarks use these classes directly::

    sys.path.insert(0, repo_root)
    from tests.lab import RtspServer, make_clip

    clip = make_clip(run_dir / "clip.mp4")
    with RtspServer(run_dir, mounts=32, clip=clip) as rtsp:
        urls = [rtsp.url(i) for i in range(1, 33)]

Every server is a child process started in its own session (process group), its output
written to ``<run_dir>/<name>.log``; ``stop()`` sends SIGTERM to that group and SIGKILL after
5 s, ``kill()`` sends SIGKILL at once (to simulate a crash), ``restart()`` starts it again on the
same port(s). Ports are chosen free at first start (never fixed), everything listens on
127.0.0.1 only, and no non-loopback address is ever contacted.

Apt packages (Debian 12): see tests/lab/README.md.
"""

from __future__ import annotations

import atexit
import grp
import logging
import os
import pwd
import re
import select
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import weakref
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

log = logging.getLogger("vigil.lab")

HERE = Path(__file__).resolve().parent
RTSP_SERVER_SCRIPT = HERE / "rtsp_server.py"
HLS_SWITCH_SCRIPT = HERE / "hls_switch.py"
SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's python: has python3-gi (the venv has not)
NGINX_RTMP_MODULE = "/usr/lib/nginx/modules/ngx_rtmp_module.so"
PG_BIN_DIRS = ("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/14/bin")
LOOPBACK = "127.0.0.1"
STOP_GRACE_S = 5.0

__all__ = [
    "AlertmanagerServer",
    "CodecSwitchHls",
    "FfmpegRtmpListener",
    "HlsLadder",
    "HlsPackager",
    "HlsSink2Packager",
    "LabError",
    "ManagedProcess",
    "NginxServer",
    "PostgresServer",
    "PrometheusServer",
    "RtmpPublisher",
    "RtspServer",
    "ServerStartError",
    "TrayHost",
    "VlcRtspServer",
    "Xvfb",
    "free_port",
    "group_cpu_seconds",
    "group_listens",
    "log_tail",
    "make_clip",
    "port_open",
    "require",
    "rtsp_describe",
    "wait_port",
]


class LabError(RuntimeError):
    """The lab cannot run here (missing binary, ...)."""


class ServerStartError(LabError):
    """A lab server did not become ready in time or exited; the message carries its log tail."""


class _ExitedEarly(ServerStartError):
    pass


# --------------------------------------------------------------------------- helpers
def free_port() -> int:
    """A TCP port that is free on 127.0.0.1 right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((LOOPBACK, 0))
        return s.getsockname()[1]


def port_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_port(port: int, timeout: float = 10.0, host: str = LOOPBACK) -> None:
    """Wait until something accepts TCP connections on host:port; TimeoutError otherwise."""
    if host != LOOPBACK and not host.startswith("127."):
        raise ValueError("the lab only talks to loopback")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(port, host):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port} after {timeout:.1f} s")


def _listening_inodes(port: int) -> set[str]:
    """Socket inodes of TCP sockets LISTENing on `port` (any address), from /proc/net/tcp{,6}."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    cols = line.split()
                    if cols[3] == "0A" and int(cols[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(cols[9])
        except (OSError, StopIteration, IndexError, ValueError):
            continue
    return inodes


def _group_pids(pgid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    stat = f.read()
                if int(stat.rsplit(")", 1)[1].split()[2]) == pgid:
                    pids.append(int(entry))
            except (OSError, IndexError, ValueError):
                continue
    return pids


def group_cpu_seconds(pgid: int) -> float:
    """CPU seconds (user + system) used so far by the live processes of group `pgid`, including the children
    they have reaped (a wrapper's short-lived ffmpeg runs). 0.0 where /proc is not available."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in _group_pids(pgid):
        try:
            with open(f"/proc/{pid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += sum(int(v) for v in fields[11:15])  # utime stime cutime cstime
        except (OSError, IndexError, ValueError):
            continue
    return total / tick


def group_listens(pgid: int, port: int) -> bool:
    """True if a process of process group `pgid` holds a socket listening on TCP `port`.

    Tells our server apart from another one that grabbed the port meanwhile (port_open() can't).
    Falls back to port_open() where /proc is not available."""
    if not os.path.isdir("/proc/self/fd"):
        return port_open(port)
    inodes = _listening_inodes(port)
    if not inodes:
        return False
    wanted = {f"socket:[{i}]" for i in inodes}
    for pid in _group_pids(pgid):
        try:
            fds = os.listdir(f"/proc/{pid}/fd")
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(f"/proc/{pid}/fd/{fd}") in wanted:
                    return True
            except OSError:
                continue
    return False


def log_tail(path: Path | str, lines: int = 30) -> str:
    try:
        data = Path(path).read_bytes()[-16384:]
    except OSError as e:
        return f"<no log: {e}>"
    return "\n".join(data.decode("utf-8", "replace").splitlines()[-lines:])


def require(*binaries: str) -> None:
    """Raise LabError naming every missing executable (absolute paths or names on PATH)."""
    missing = [b for b in binaries if not (os.path.isabs(b) and os.path.exists(b)) and not shutil.which(b)]
    if missing:
        raise LabError(
            "test lab needs missing program(s): "
            + ", ".join(missing)
            + " (install the apt packages listed in tests/lab/README.md)"
        )


def http_get(url: str, timeout: float = 2.0) -> tuple[int, bytes]:
    """GET a loopback URL; returns (status, body). Network errors raise OSError."""
    host = urllib.parse.urlsplit(url).hostname or ""
    if not host.startswith("127.") and host != "localhost":
        raise ValueError(f"the lab only talks to loopback, not {host!r}")
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def rtsp_describe(
    url: str, user: str | None = None, password: str | None = None, timeout: float = 3.0
) -> tuple[int, dict[str, str]]:
    """Send one RTSP DESCRIBE (optionally with Basic auth) and return (status, headers).

    Handy for auth tests: 401 vs 200 without starting a decoder."""
    import base64

    parts = urllib.parse.urlsplit(url)
    clean = parts._replace(netloc=f"{parts.hostname}:{parts.port or 554}").geturl()
    req = f"DESCRIBE {clean} RTSP/1.0\r\nCSeq: 1\r\nAccept: application/sdp\r\nUser-Agent: vigil-lab\r\n"
    if user is not None:
        cred = base64.b64encode(f"{user}:{password or ''}".encode()).decode()
        req += f"Authorization: Basic {cred}\r\n"
    with socket.create_connection((parts.hostname, parts.port or 554), timeout=timeout) as s:
        s.sendall((req + "\r\n").encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1").split("\r\n")
    m = re.match(r"RTSP/1\.\d (\d{3})", head[0] if head else "")
    if not m:
        raise OSError(f"not an RTSP answer from {clean}: {head[:1]}")
    headers = {}
    for line in head[1:]:
        k, _, v = line.partition(":")
        headers[k.strip().lower()] = v.strip()
    return int(m.group(1)), headers


def _world_traversable(path: Path) -> bool:
    """True if 'other' users (nginx workers as nobody, postgres) can reach `path`."""
    p = path.resolve()
    for d in [p, *p.parents]:
        try:
            if not d.stat().st_mode & 0o001:
                return False
        except OSError:
            return False
    return True


# --------------------------------------------------------------------------- base class
_LIVE: weakref.WeakSet = weakref.WeakSet()  # started servers, for the atexit safety net


@atexit.register
def _kill_leftovers() -> None:
    """Interpreter exit (e.g. a benchmark that forgot stop()): never leave lab servers behind."""
    for srv in list(_LIVE):
        if srv.is_running():
            log.warning("%s still running at exit: killing pid %s", srv.name, srv.pid)
            srv.kill()


class ManagedProcess:
    """A lab server child process: start/stop/kill/restart by PID and process group."""

    name = "server"
    ready_timeout = 20.0
    stop_signal = signal.SIGTERM
    port_attrs: tuple[str, ...] = ()  # attributes holding ports picked by the lab

    def __init__(self, run_dir: Path | str, name: str | None = None):
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        if name:
            self.name = name
        self.proc: subprocess.Popen | None = None
        self.start_seconds: float | None = None  # time the last start() took
        self._auto_ports: list[str] | None = None
        self._was_ready = False
        self._log_file = None

    # -- to override
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Choose ports / write config before each start (ports are kept on restart)."""

    def _is_ready(self) -> bool:
        return True

    def _owns(self, *ports: int) -> bool:
        """Our process group (not some other server) listens on all these ports."""
        return self.proc is not None and all(group_listens(self.proc.pid, p) for p in ports)

    def _popen_kwargs(self) -> dict:
        return {}

    def _after_ready(self) -> None:
        pass

    def _cleanup(self) -> None:
        """After the process has gone (stop/kill)."""

    # -- public API
    @property
    def log_path(self) -> Path:
        return self.run_dir / f"{self.name}.log"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def is_running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def cpu_seconds(self) -> float:
        """CPU seconds its process group has used so far (0.0 when stopped): sample twice for a load figure."""
        return group_cpu_seconds(self.proc.pid) if self.is_running() else 0.0

    def log_tail(self, lines: int = 30) -> str:
        return log_tail(self.log_path, lines)

    def start(self, timeout: float | None = None):
        """Start and wait until ready (ServerStartError with the log tail otherwise).

        Ports left to the lab (None) are picked free at the first start and kept for restart();
        if the process dies at its first start (e.g. another session grabbed the port between
        free_port() and bind), it is retried up to 3 times on new ports."""
        if self.is_running():
            return self
        timeout = self.ready_timeout if timeout is None else timeout
        if self._auto_ports is None:
            self._auto_ports = [a for a in self.port_attrs if getattr(self, a, None) is None]
        t0 = time.monotonic()
        for attempt in range(1, 4):
            try:
                self._start_once(timeout)
                break
            except _ExitedEarly as e:
                if self._was_ready or not self._auto_ports or attempt == 3:
                    raise ServerStartError(str(e)) from None
                log.warning("%s: exited at start (attempt %d), retrying on new ports", self.name, attempt)
                for a in self._auto_ports:
                    setattr(self, a, None)
        self._was_ready = True
        self.start_seconds = time.monotonic() - t0
        log.info("%s: ready in %.2f s", self.name, self.start_seconds)
        return self

    def _start_once(self, timeout: float) -> None:
        self._prepare()
        cmd = self._command()
        self._log_file = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reap
        self._log_file.write(f"\n=== {time.strftime('%H:%M:%S')} start: {' '.join(cmd)}\n".encode())
        self._log_file.flush()
        kwargs = {
            "stdin": subprocess.DEVNULL,
            "stdout": self._log_file,
            "stderr": subprocess.STDOUT,
            "start_new_session": True,
            "close_fds": True,
        }
        kwargs.update(self._popen_kwargs())
        try:
            self.proc = subprocess.Popen(cmd, **kwargs)
        except OSError as e:
            self._log_file.close()
            self._log_file = None
            raise ServerStartError(f"{self.name}: cannot run {cmd[0]}: {e}") from e
        log.info("%s: started pid %s (log %s)", self.name, self.proc.pid, self.log_path)
        _LIVE.add(self)
        try:
            self._wait_ready(timeout)
            self._after_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise _ExitedEarly(
                    f"{self.name} exited with code {self.proc.returncode} before it was ready; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            try:
                if self._is_ready():
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"{self.name} not ready after {timeout:.1f} s; log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)

    def _signal_group(self, sig: int) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass
        except PermissionError:  # child switched user and we are not root: signal the leader only
            try:
                self.proc.send_signal(sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        """Graceful stop: stop_signal to the process group, SIGKILL after 5 s."""
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self._signal_group(self.stop_signal)
            self._signal_group(signal.SIGCONT)  # a paused server must wake up to handle the signal
            try:
                self.proc.wait(STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s: pid %s ignored %s for %.0f s, killing",
                    self.name,
                    self.proc.pid,
                    signal.Signals(self.stop_signal).name,
                    STOP_GRACE_S,
                )
                self._signal_group(signal.SIGKILL)
                self.proc.wait(5)
            log.info("%s: stopped pid %s", self.name, self.proc.pid)
        # Kill stragglers left in the group (e.g. children of a wrapper) - by group id only.
        self._signal_group(signal.SIGKILL)
        self._reap()

    def kill(self) -> None:
        """Crash simulation: SIGKILL the whole process group now."""
        if self.proc is None:
            return
        self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            log.error("%s: pid %s survived SIGKILL?", self.name, self.proc.pid)
        log.info("%s: killed pid %s", self.name, self.proc.pid)
        self._reap()

    def pause(self) -> None:
        """Freeze the whole process group (SIGSTOP): connections stay open, nothing is sent (a hung camera)."""
        if self.proc is not None:
            self._signal_group(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo pause() (SIGCONT)."""
        if self.proc is not None:
            self._signal_group(signal.SIGCONT)

    def _reap(self) -> None:
        self.proc = None
        if self._log_file:
            self._log_file.close()
            self._log_file = None
        self._cleanup()

    def restart(self, timeout: float | None = None):
        """Stop (if running) and start again on the same port(s)."""
        self.stop()
        return self.start(timeout)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __del__(self):  # last resort: never leak a server
        try:
            if self.proc is not None and self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGKILL)
        except Exception:
            pass

    def __repr__(self) -> str:
        state = f"pid {self.pid}" if self.is_running() else "stopped"
        return f"<{type(self).__name__} {self.name} {state}>"


# --------------------------------------------------------------------------- clips
def make_clip(
    path: Path | str,
    seconds: int = 10,
    size: str = "640x360",
    fps: int = 15,
    gop: int = 15,
    bitrate: str = "600k",
    codec: str = "libx264",
    audio: bool = False,
) -> Path:
    """Encode a looping H.264 test clip once (cached: reused if it exists).

    Writes `path` (.mp4 or .mkv; for RTMP `-c copy` publishing) and, next to it, the same stream
    as raw Annex-B ``<stem>.h264`` (for RtspServer(clip=...), looped by multifilesrc). Content:
    testsrc2 (moving) with a frame counter burnt in; closed GOPs of `gop` frames, baseline profile,
    no B-frames, so any loop point is clean. `audio`: plus a 440 Hz AAC tone at 32 kHz in `path`
    (its 1024-sample frames tile every multiple of 4 s exactly: such a clip loops without an audio
    gap). Returns `path`.
    """
    require("ffmpeg")
    path = Path(path)
    h264 = path.with_suffix(".h264")
    if path.exists() and h264.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    w, h = size.split("x")
    tmp = path.with_name(f".{path.stem}.{os.getpid()}{path.suffix}")
    vf = (
        f"drawtext=text='%{{frame_num}}':x=10:y=10:fontsize={max(12, int(h) // 12)}"
        ":fontcolor=white:box=1:boxcolor=black@0.6"
    )
    base = [
        "ffmpeg",
        "-nostdin",
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size={w}x{h}:rate={fps}",
        "-t",
        str(seconds),
    ]
    if audio:
        base += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=32000", "-t", str(seconds)]
    enc = [
        "-c:v",
        codec,
        "-preset",
        "veryfast",
        "-profile:v",
        "baseline",
        "-pix_fmt",
        "yuv420p",
        "-g",
        str(gop),
        "-keyint_min",
        str(gop),
        "-sc_threshold",
        "0",
        "-bf",
        "0",
        "-b:v",
        bitrate,
    ]
    if audio:
        enc += ["-c:a", "aac", "-b:a", "48k"]
    t0 = time.monotonic()
    r = subprocess.run([*base, "-vf", vf, *enc, str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:  # drawtext needs fontconfig + a font: fall back to no counter
        log.warning("make_clip: drawtext failed (%s), encoding without frame counter", r.stderr.strip()[-200:])
        r = subprocess.run([*base, *enc, str(tmp)], capture_output=True, text=True)
    if r.returncode != 0:
        raise LabError(f"make_clip: ffmpeg failed: {r.stderr[-2000:]}")
    tmp_h264 = h264.with_name(f".{h264.stem}.{os.getpid()}.h264")
    r = subprocess.run(
        [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "error",
            "-y",
            "-i",
            str(tmp),
            "-map",
            "0:v",
            "-c",
            "copy",
            "-bsf:v",
            "h264_mp4toannexb",
            "-f",
            "h264",
            str(tmp_h264),
        ],
        capture_output=True,
        text=True,
    )
    if r.returncode != 0:
        raise LabError(f"make_clip: annex-b copy failed: {r.stderr[-2000:]}")
    os.replace(tmp, path)
    os.replace(tmp_h264, h264)
    log.info("make_clip: %s (%s s %s@%s) in %.1f s", path, seconds, size, fps, time.monotonic() - t0)
    return path


# --------------------------------------------------------------------------- RTSP
class RtspServer(ManagedProcess):
    """gst-rtsp-server cameras: rtsp://127.0.0.1:PORT/cam1..camN, plus /secure1 (auth).

    clip: a file made by make_clip (its .h264 sibling is served by stream copy, looped); its
    frame rate must equal `fps`. auth_method: "basic" or "digest" for the secure mount(s).
    Live mounts (no clip): codec "h264" (x264enc), "hevc" (x265enc + rtph265pay) or "mjpeg" (jpegenc +
    rtpjpegpay, every picture a keyframe; size multiple of 8); audio "aac" adds an AAC tone (rtpmp4gpay).
    Packetizer variants: config_interval 1 (SPS/PPS in-band once a second), -1 (before every IDR, one
    timestamp), 0 (only in the SDP); slices > 0 (H.264 pictures in that many slices).
    """

    name = "rtsp"
    port_attrs = ("port",)
    SECURE_USER = "admin"
    SECURE_PASSWORD = "s3cret!"

    def __init__(
        self,
        run_dir,
        mounts: int = 4,
        size: str = "640x360",
        fps: int = 15,
        port: int | None = None,
        clip: Path | str | None = None,
        overlay: bool = True,
        secure_mounts: int = 1,
        auth_method: str = "basic",
        gop_seconds: int = 1,
        bitrate_kbps: int = 800,
        config_interval: int = 1,
        slices: int = 0,
        codec: str = "h264",
        audio: str | None = None,
        user: str = SECURE_USER,
        password: str = SECURE_PASSWORD,
        name: str | None = None,
    ):
        super().__init__(run_dir, name)
        self.mounts, self.fps, self.port = mounts, fps, port
        self.width, self.height = (int(v) for v in size.split("x"))
        self.clip = Path(clip) if clip else None
        self.overlay, self.secure_mounts, self.auth_method = overlay, secure_mounts, auth_method
        self.gop_seconds, self.bitrate_kbps = gop_seconds, bitrate_kbps
        self.config_interval, self.slices = config_interval, slices  # packetizer variants (live mode)
        if codec not in ("h264", "hevc", "mjpeg") or audio not in (None, "aac"):
            raise ValueError(f"codec {codec!r} / audio {audio!r}: codec h264|hevc|mjpeg, audio None|aac")
        if clip and (codec != "h264" or audio):
            raise ValueError("a clip is served as it is (H.264, no audio): codec/audio apply to live mounts")
        self.codec, self.audio = codec, audio
        self.user, self.password = user, password

    def _prepare(self):
        require(SYSTEM_PYTHON)
        if self.port is None:
            self.port = free_port()

    def _clip_for_server(self) -> Path:
        c = self.clip
        if c.suffix.lower() in (".h264", ".264", ".avc"):
            return c
        annexb = c.with_suffix(".h264")
        if not annexb.exists() or annexb.stat().st_mtime < c.stat().st_mtime:
            r = subprocess.run(
                [
                    "ffmpeg",
                    "-nostdin",
                    "-loglevel",
                    "error",
                    "-y",
                    "-i",
                    str(c),
                    "-c",
                    "copy",
                    "-bsf:v",
                    "h264_mp4toannexb",
                    "-f",
                    "h264",
                    str(annexb),
                ],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise LabError(f"cannot extract H.264 from {c}: {r.stderr[-1000:]}")
        return annexb

    def _command(self):
        cmd = [
            SYSTEM_PYTHON,
            "-u",
            str(RTSP_SERVER_SCRIPT),
            "--address",
            LOOPBACK,
            "--port",
            str(self.port),
            "--mounts",
            str(self.mounts),
            "--width",
            str(self.width),
            "--height",
            str(self.height),
            "--fps",
            str(self.fps),
            "--gop-seconds",
            str(self.gop_seconds),
            "--bitrate",
            str(self.bitrate_kbps),
            "--config-interval",
            str(self.config_interval),
            "--slices",
            str(self.slices),
            "--codec",
            self.codec,
            "--audio",
            self.audio or "none",
            "--secure-mounts",
            str(self.secure_mounts),
            "--secure-user",
            self.user,
            "--secure-password",
            self.password,
            "--auth-method",
            self.auth_method,
        ]
        if not self.overlay:
            cmd.append("--no-overlay")
        if self.clip:
            cmd += ["--clip", str(self._clip_for_server())]
        return cmd

    def _is_ready(self):
        return b"RTSP ready" in self.log_path.read_bytes()[-65536:] and self._owns(self.port)

    def _popen_kwargs(self):
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
        return {"env": env}

    def url(self, i: int = 1) -> str:
        return f"rtsp://{LOOPBACK}:{self.port}/cam{i}"

    @property
    def urls(self) -> list[str]:
        return [self.url(i) for i in range(1, self.mounts + 1)]

    def secure_url(self, user: str | None = None, password: str | None = None, k: int = 1) -> str:
        """rtsp://user:password@127.0.0.1:PORT/secureK (credentials percent-encoded); both None
        gives the URL without credentials."""
        if user is None and password is None:
            return f"rtsp://{LOOPBACK}:{self.port}/secure{k}"
        u = urllib.parse.quote(self.user if user is None else user, safe="")
        p = urllib.parse.quote(self.password if password is None else password, safe="")
        return f"rtsp://{u}:{p}@{LOOPBACK}:{self.port}/secure{k}"


# --------------------------------------------------------------------------- VLC (RTSP over UDP)
def _demote_to_nobody() -> tuple[list[str], int | None, int | None]:
    """(command prefix, uid, gid) that runs a child as `nobody` when we are root; ([], None, None) otherwise."""
    if os.geteuid() != 0:
        return [], None, None
    require("setpriv")
    pw = pwd.getpwnam("nobody")
    group = grp.getgrgid(pw.pw_gid).gr_name  # Debian: "nogroup"
    return ["setpriv", f"--reuid={pw.pw_name}", f"--regid={group}", "--clear-groups"], pw.pw_uid, pw.pw_gid


class VlcRtspServer(ManagedProcess):
    """VLC as an RTSP server: rtsp://127.0.0.1:PORT/STREAM, a looped H.264 clip by stream copy.

    Clients must use **UDP** (VLC answers "461 Unsupported transport" to RTP over the RTSP connection), so a
    Vigil camera on it needs ``PipelineOptions(transport="udp")``. VLC refuses to run as root: as root it runs
    as `nobody`, with its own HOME (and a copy of the clip) in a /tmp folder that user owns.

    VLC's own ``--loop``/``--input-repeat`` end the RTSP stream at the end of the file (clients get an RTCP
    BYE, then "500 Internal server error" to DESCRIBE), so the clip is looped by ffmpeg (``-re -stream_loop
    -1 -c copy``) into VLC's stdin as MPEG-TS: one endless input, continuous timestamps.
    Ready when our group listens on the port and a DESCRIBE answers 200 (several clients may connect).
    """

    name = "vlc"
    port_attrs = ("port",)
    ready_timeout = 20.0

    def __init__(self, run_dir, clip: Path | str, port: int | None = None, stream: str = "cam",
                 name: str | None = None):  # fmt: skip
        super().__init__(run_dir, name)
        self.clip, self.port, self.stream = Path(clip), port, stream
        self.home: Path | None = None

    def _prepare(self):
        require("cvlc", "ffmpeg")
        self.port = self.port or free_port()
        prefix, uid, gid = _demote_to_nobody()
        if self.home is None:
            self.home = Path(tempfile.mkdtemp(prefix="vigil-vlc-"))
        self.home.chmod(0o755)
        shutil.copyfile(self.clip, self.home / "clip.mp4")  # readable by nobody wherever the clip lives
        if uid is not None:
            for path in (self.home, self.home / "clip.mp4"):
                os.chown(path, uid, gid)
        self._prefix = prefix

    @property
    def url(self) -> str:
        return f"rtsp://{LOOPBACK}:{self.port}/{self.stream}"

    def _command(self):
        clip = shlex.quote(str(self.home / "clip.mp4"))
        sout = shlex.quote(f"#rtp{{sdp=rtsp://{LOOPBACK}:{self.port}/{self.stream}}}")
        pipeline = (
            f"ffmpeg -nostdin -hide_banner -loglevel warning -re -stream_loop -1 -i {clip} -c copy -f mpegts - | "
            f"exec cvlc -I dummy --no-dbus --no-stats --no-audio - --rtsp-host={LOOPBACK} --sout {sout} --sout-keep"
        )
        return [*self._prefix, "sh", "-c", pipeline]

    def _popen_kwargs(self):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("DBUS_", "XDG_", "DISPLAY", "PULSE"))}
        return {"env": {**env, "HOME": str(self.home)}, "cwd": str(self.home)}

    def _is_ready(self):
        return self._owns(self.port) and rtsp_describe(self.url, timeout=1.0)[0] == 200

    def _cleanup(self):
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)
            self.home = None


# --------------------------------------------------------------------------- ffmpeg as an RTMP server
class FfmpegRtmpListener(ManagedProcess):
    """ffmpeg as a one-client RTMP server: ``-f flv -listen 1 rtmp://127.0.0.1:PORT/live/NAME``.

    It accepts exactly one connection, streams to it, and exits when that client goes (a camera or encoder
    that serves one viewer). Readiness is read from /proc (our group holds a listening socket, like
    ``ss -ltn``), never by connecting: a test connection would be its only client. ``-re`` paces from the
    moment the client connects (ffmpeg opens the output, i.e. waits in accept(), before reading input).
    Source: testsrc2 + a sine (H.264 + AAC) encoded live, GOP ``gop_seconds``; or a clip by stream copy.
    """

    name = "rtmp_listen"
    port_attrs = ("port",)
    ready_timeout = 15.0

    def __init__(self, run_dir, stream: str = "cam", size: str = "320x240", fps: int = 15, gop_seconds: int = 1,
                 audio: bool = True, clip: Path | str | None = None, bitrate: str = "400k", port: int | None = None,
                 name: str | None = None):  # fmt: skip
        super().__init__(run_dir, name)
        self.stream, self.size, self.fps, self.gop_seconds, self.audio = stream, size, fps, gop_seconds, audio
        self.clip = Path(clip) if clip else None
        self.bitrate, self.port = bitrate, port

    def _prepare(self):
        require("ffmpeg")
        self.port = self.port or free_port()

    @property
    def url(self) -> str:
        return f"rtmp://{LOOPBACK}:{self.port}/live/{self.stream}"

    def _command(self):
        head = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning"]
        if self.clip:
            body = ["-re", "-stream_loop", "-1", "-i", str(self.clip), "-c", "copy"]
        else:
            gop = str(self.fps * self.gop_seconds)
            body = ["-re", "-f", "lavfi", "-i", f"testsrc2=size={self.size}:rate={self.fps}"]
            if self.audio:
                body += ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=44100"]
            body += ["-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-profile:v", "baseline",
                     "-pix_fmt", "yuv420p", "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", self.bitrate,
                     "-threads", "1"]  # fmt: skip
            if self.audio:
                body += ["-c:a", "aac", "-b:a", "64k"]
        return [*head, *body, "-f", "flv", "-listen", "1", self.url]

    def _is_ready(self):
        return self._owns(self.port)


# --------------------------------------------------------------------------- nginx (RTMP + HTTP)
class NginxServer(ManagedProcess):
    """Private nginx: RTMP ingest (application `live`) + HTTP for /hls/, /rtmp_stat, /static/."""

    name = "nginx"
    port_attrs = ("rtmp_port", "http_port")
    ready_timeout = 10.0
    stop_signal = signal.SIGQUIT  # graceful shutdown for nginx (TERM is "fast")

    def __init__(
        self,
        run_dir,
        rtmp_port: int | None = None,
        http_port: int | None = None,
        static_dir: Path | str | None = None,
        name: str | None = None,
    ):
        super().__init__(run_dir, name)
        self.rtmp_port, self.http_port = rtmp_port, http_port
        self.prefix = self.run_dir / self.name
        self.hls_dir = self.prefix / "hls"
        self.static_dir = Path(static_dir) if static_dir else self.prefix / "static"
        self.conf_path = self.prefix / "nginx.conf"
        self.worker_user = "nobody"

    def _prepare(self):
        require("nginx", NGINX_RTMP_MODULE)
        self.rtmp_port = self.rtmp_port or free_port()
        self.http_port = self.http_port or free_port()
        for d in (self.prefix / "tmp", self.prefix / "logs", self.hls_dir, self.static_dir):
            d.mkdir(parents=True, exist_ok=True)
        for d in (self.prefix, self.hls_dir, self.static_dir):
            d.chmod(0o755)  # workers run as nobody
        if os.geteuid() == 0 and not (_world_traversable(self.hls_dir) and _world_traversable(self.static_dir)):
            log.warning("%s: %s is not reachable by 'nobody'; nginx workers will run as root", self.name, self.hls_dir)
            self.worker_user = "root"
        self.conf_path.write_text(self._config())

    def _config(self) -> str:
        p = self.prefix
        user = ""
        if os.geteuid() == 0:  # Debian has no group "nobody" (it is "nogroup"): name it explicitly
            group = grp.getgrgid(pwd.getpwnam(self.worker_user).pw_gid).gr_name
            user = f"user {self.worker_user} {group};\n"
        return f"""# generated by tests/lab/servers.py - private nginx, loopback only
load_module {NGINX_RTMP_MODULE};
{user}worker_processes 1;                 # nginx-rtmp live fan-out needs a single worker
daemon off;
master_process on;
pid       {p}/nginx.pid;
error_log {p}/logs/error.log warn;
events {{ worker_connections 1024; }}
rtmp {{
  server {{
    listen {LOOPBACK}:{self.rtmp_port};
    chunk_size 4096;
    application live {{
      live on; record off;
      allow publish 127.0.0.1; deny publish all;
      allow play 127.0.0.1;    deny play all;
    }}
  }}
}}
http {{
  access_log {p}/logs/access.log;
  client_body_temp_path {p}/tmp/body;
  proxy_temp_path       {p}/tmp/proxy;
  fastcgi_temp_path     {p}/tmp/fastcgi;
  uwsgi_temp_path       {p}/tmp/uwsgi;
  scgi_temp_path        {p}/tmp/scgi;
  types {{ application/vnd.apple.mpegurl m3u8; video/mp2t ts; application/json json;
          text/plain txt; video/mp4 mp4; }}
  default_type application/octet-stream;
  server {{
    listen {LOOPBACK}:{self.http_port};
    location /hls/ {{ alias {self.hls_dir}/; add_header Cache-Control no-cache; }}
    location /static/ {{ alias {self.static_dir}/; add_header Cache-Control no-cache; }}
    location /rtmp_stat {{ rtmp_stat all; }}
  }}
}}
"""

    def _command(self):
        return [
            "nginx",
            "-p",
            str(self.prefix),
            "-c",
            str(self.conf_path),
            "-e",
            str(self.prefix / "logs/error.log"),
        ]

    def _is_ready(self):
        return self._owns(self.rtmp_port, self.http_port)

    def log_tail(self, lines: int = 30) -> str:
        return (
            log_tail(self.log_path, lines) + "\n--- error.log ---\n" + log_tail(self.prefix / "logs/error.log", lines)
        )

    def http_url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.http_port}/{path.lstrip('/')}"

    def rtmp_url(self, name: str, app: str = "live") -> str:
        return f"rtmp://{LOOPBACK}:{self.rtmp_port}/{app}/{name}"

    def static_url(self, relpath: str) -> str:
        return self.http_url(f"/static/{relpath.lstrip('/')}")

    def put_static(self, relpath: str, content: str | bytes) -> str:
        """Write a file under /static/ (e.g. a malformed playlist) and return its URL."""
        target = self.static_dir / relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.tmp")
        tmp.write_bytes(content.encode() if isinstance(content, str) else content)
        tmp.chmod(0o644)
        os.replace(tmp, target)
        return self.static_url(relpath)

    def rtmp_stat(self) -> str:
        status, body = http_get(self.http_url("/rtmp_stat"))
        if status != 200:
            raise OSError(f"rtmp_stat answered {status}")
        return body.decode("utf-8", "replace")

    def published_streams(self) -> list[str]:
        """Names of streams that currently have a publisher in application `live`."""
        xml = self.rtmp_stat()
        names = []
        for block in re.findall(r"<stream>(.*?)</stream>", xml, re.S):
            m = re.search(r"<name>([^<]*)</name>", block)
            if m and "<publishing/>" in block:
                names.append(m.group(1))
        return names


class _NginxClient(ManagedProcess):
    """An ffmpeg process feeding a NginxServer."""

    def __init__(self, nginx: NginxServer, name: str):
        super().__init__(nginx.run_dir, name)
        self.nginx = nginx

    def _prepare(self):
        require("ffmpeg")
        if not self.nginx.is_running():
            raise LabError(f"{self.name}: its nginx ({self.nginx.name}) is not running")


class RtmpPublisher(_NginxClient):
    """ffmpeg publishing testsrc2 + 440 Hz-ish sine (H.264 + AAC), or a clip by stream copy, to nginx."""

    ready_timeout = 20.0

    def __init__(
        self,
        nginx: NginxServer,
        name: str = "ch1",
        size: str = "640x360",
        fps: int = 15,
        clip: Path | str | None = None,
        audio: bool = True,
        bitrate: str = "800k",
        tone_hz: int = 440,
    ):
        super().__init__(nginx, f"rtmp_{name}")
        self.stream_name, self.size, self.fps, self.audio = name, size, fps, audio
        self.clip = Path(clip) if clip else None
        self.bitrate, self.tone_hz = bitrate, tone_hz

    @property
    def url(self) -> str:
        return self.nginx.rtmp_url(self.stream_name)

    def _command(self):
        head = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning"]
        if self.clip:
            return [
                *head,
                "-re",
                "-stream_loop",
                "-1",
                "-i",
                str(self.clip),
                "-c",
                "copy",
                "-f",
                "flv",
                self.url,
            ]
        cmd = [*head, "-re", "-f", "lavfi", "-i", f"testsrc2=size={self.size}:rate={self.fps}"]
        if self.audio:
            cmd += ["-f", "lavfi", "-i", f"sine=frequency={self.tone_hz}:sample_rate=44100"]
        cmd += [
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-profile:v",
            "baseline",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(self.fps),
            "-b:v",
            self.bitrate,
            "-threads",
            "1",
        ]
        if self.audio:
            cmd += ["-c:a", "aac", "-b:a", "64k"]
        return [*cmd, "-f", "flv", self.url]

    def _is_ready(self):
        return self.stream_name in self.nginx.published_streams()


RENDITIONS = {  # name: (width, height, video bitrate)
    "1080p": (1920, 1080, "3000k"),
    "720p": (1280, 720, "2000k"),
    "480p": (854, 480, "1200k"),
    "360p": (640, 360, "800k"),
    "240p": (426, 240, "400k"),
}


class HlsLadder(_NginxClient):
    """ffmpeg live HLS ladder into nginx's HLS dir: /hls[/subdir]/master.m3u8 + /<rendition>/index.m3u8."""

    ready_timeout = 30.0

    def __init__(
        self,
        nginx: NginxServer,
        renditions: Sequence[str] = ("480p", "360p", "240p"),
        segment_seconds: int = 2,
        list_size: int = 6,
        fps: int = 15,
        subdir: str = "",
    ):
        super().__init__(nginx, f"hls{'_' + subdir if subdir else ''}")
        unknown = [r for r in renditions if r not in RENDITIONS]
        if unknown:
            raise ValueError(f"unknown rendition(s) {unknown}; known: {sorted(RENDITIONS)}")
        self.renditions = tuple(renditions)
        self.segment_seconds, self.list_size, self.fps, self.subdir = segment_seconds, list_size, fps, subdir
        self.out_dir = nginx.hls_dir / subdir if subdir else nginx.hls_dir

    @property
    def master_url(self) -> str:
        return self.nginx.http_url(self._rel("master.m3u8"))

    def variant_url(self, name: str) -> str:
        return self.nginx.http_url(self._rel(f"{name}/index.m3u8"))

    def _rel(self, p: str) -> str:
        return f"/hls/{self.subdir + '/' if self.subdir else ''}{p}"

    def _prepare(self):
        super()._prepare()
        if self.out_dir.exists() and self.out_dir != self.nginx.hls_dir:
            shutil.rmtree(self.out_dir)
        for name in self.renditions:  # leftovers from a previous run would fake readiness
            shutil.rmtree(self.out_dir / name, ignore_errors=True)
        (self.out_dir / "master.m3u8").unlink(missing_ok=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.chmod(0o755)

    def _command(self):
        n = len(self.renditions)
        top_w, top_h, _ = RENDITIONS[self.renditions[0]]
        labels = [f"[v{i}]" for i in range(n)]
        fc = f"[0:v]split={n}{''.join(labels)}"
        maps, rates = [], []
        for i, r in enumerate(self.renditions):
            w, h, br = RENDITIONS[r]
            fc += f";[v{i}]scale={w}:{h}[o{i}]"
            maps += ["-map", f"[o{i}]"]
            rates += [f"-b:v:{i}", br]
        gop = self.fps * self.segment_seconds
        stream_map = " ".join(f"v:{i},name:{r}" for i, r in enumerate(self.renditions))
        return [
            "ffmpeg",
            "-nostdin",
            "-hide_banner",
            "-loglevel",
            "warning",
            "-re",
            "-f",
            "lavfi",
            "-i",
            f"testsrc2=size={top_w}x{top_h}:rate={self.fps}",
            "-filter_complex",
            fc,
            *maps,
            "-c:v",
            "libx264",
            "-preset",
            "ultrafast",
            "-tune",
            "zerolatency",
            "-pix_fmt",
            "yuv420p",
            "-g",
            str(gop),
            "-keyint_min",
            str(gop),
            "-sc_threshold",
            "0",
            "-threads",
            "1",
            *rates,
            "-f",
            "hls",
            "-hls_time",
            str(self.segment_seconds),
            "-hls_list_size",
            str(self.list_size),
            "-hls_flags",
            "delete_segments+independent_segments+temp_file",
            "-master_pl_name",
            "master.m3u8",
            "-var_stream_map",
            stream_map,
            "-hls_segment_filename",
            str(self.out_dir / "%v" / "seg_%05d.ts"),
            str(self.out_dir / "%v" / "index.m3u8"),
        ]

    def segments(self, name: str) -> list[str]:
        try:
            text = (self.out_dir / name / "index.m3u8").read_text()
        except OSError:
            return []
        return [line for line in text.splitlines() if line.startswith("seg_")]

    def _is_ready(self):
        return (self.out_dir / "master.m3u8").exists() and all(len(self.segments(r)) >= 2 for r in self.renditions)


def _playlist_segments(path: Path) -> list[str]:
    """The segment URIs a media playlist lists (none if it is missing or being replaced)."""
    try:
        text = path.read_text()
    except OSError:
        return []
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


class HlsPackager(_NginxClient):
    """ffmpeg live HLS into nginx's HLS dir: /hls/NAME/index.m3u8 (one rendition) or, for an ABR master,
    /hls/NAME/master.m3u8 + /hls/NAME/<rendition>/index.m3u8.

    clip: a path (one rendition, with its audio if it has any) or {rendition name: path} (ABR master,
    renditions in that order, video only), each looped by stream copy (``-re -stream_loop -1 -c copy``:
    no encoder; make them with make_clip: same fps, GOP and length, the length a whole number of GOPs,
    the GOP dividing `segment_seconds`). clip None: one rendition of testsrc2 `size`@`fps` encoded live
    (libx264 ultrafast, GOP `gop_seconds`).
    segment_type "mpegts" (.ts) or "fmp4" (.m4s + init.mp4). Ready when every rendition lists
    `min_segments` segments.
    """

    ready_timeout = 45.0

    def __init__(self, nginx: NginxServer, name: str, clip: Path | str | dict[str, Path | str] | None = None,
                 segment_seconds: int = 2, segment_type: str = "mpegts", list_size: int = 6, min_segments: int = 2,
                 size: str = "426x240", fps: int = 15, gop_seconds: int = 2, bitrate: str = "300k"):  # fmt: skip
        super().__init__(nginx, f"hls_{name}")
        if segment_type not in ("mpegts", "fmp4"):
            raise ValueError(f"segment_type {segment_type!r}: mpegts or fmp4")
        self.stream = name
        self.clips = {k: Path(v) for k, v in clip.items()} if isinstance(clip, dict) else None
        self.clip = Path(clip) if clip is not None and not isinstance(clip, dict) else None
        self.segment_seconds, self.segment_type, self.list_size = segment_seconds, segment_type, list_size
        self.min_segments, self.size, self.fps, self.gop_seconds, self.bitrate = (
            min_segments, size, fps, gop_seconds, bitrate)  # fmt: skip
        self.out_dir = nginx.hls_dir / name

    @property
    def renditions(self) -> list[str]:
        return list(self.clips) if self.clips else []

    @property
    def url(self) -> str:
        """The master playlist of an ABR packager, else the media playlist."""
        return self.nginx.http_url(f"/hls/{self.stream}/{'master' if self.clips else 'index'}.m3u8")

    def variant_url(self, rendition: str) -> str:
        return self.nginx.http_url(f"/hls/{self.stream}/{rendition}/index.m3u8")

    def _playlists(self) -> list[Path]:
        if self.clips:
            return [self.out_dir / r / "index.m3u8" for r in self.clips]
        return [self.out_dir / "index.m3u8"]

    def _prepare(self):
        super()._prepare()
        shutil.rmtree(self.out_dir, ignore_errors=True)  # leftovers would fake readiness
        for d in [self.out_dir, *(self.out_dir / r for r in self.renditions)]:
            d.mkdir(parents=True, exist_ok=True)
            d.chmod(0o755)

    def _command(self):
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "warning"]
        if self.clips:
            for path in self.clips.values():
                cmd += ["-re", "-stream_loop", "-1", "-i", str(path)]
            for i in range(len(self.clips)):
                cmd += ["-map", f"{i}:v"]
            cmd += ["-c", "copy"]
        elif self.clip:
            cmd += ["-re", "-stream_loop", "-1", "-i", str(self.clip), "-map", "0", "-c", "copy"]
        else:
            gop = str(self.fps * self.gop_seconds)
            cmd += ["-re", "-f", "lavfi", "-i", f"testsrc2=size={self.size}:rate={self.fps}",
                    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p",
                    "-g", gop, "-keyint_min", gop, "-sc_threshold", "0", "-b:v", self.bitrate,
                    "-threads", "1"]  # fmt: skip
        ext = "m4s" if self.segment_type == "fmp4" else "ts"
        cmd += ["-f", "hls", "-hls_time", str(self.segment_seconds), "-hls_list_size", str(self.list_size),
                "-hls_segment_type", self.segment_type,
                "-hls_flags", "delete_segments+independent_segments+temp_file"]  # fmt: skip
        if self.segment_type == "fmp4":
            cmd += ["-hls_fmp4_init_filename", "init.mp4"]
        if self.clips:
            stream_map = " ".join(f"v:{i},name:{r}" for i, r in enumerate(self.clips))
            cmd += ["-master_pl_name", "master.m3u8", "-var_stream_map", stream_map,
                    "-hls_segment_filename", str(self.out_dir / "%v" / f"seg_%05d.{ext}"),
                    str(self.out_dir / "%v" / "index.m3u8")]  # fmt: skip
        else:
            cmd += ["-hls_segment_filename", str(self.out_dir / f"seg_%05d.{ext}"), str(self.out_dir / "index.m3u8")]
        return cmd

    def segments(self, rendition: str | None = None) -> list[str]:
        path = self.out_dir / rendition / "index.m3u8" if rendition else self._playlists()[0]
        return _playlist_segments(path)

    def _is_ready(self):
        if self.clips and not (self.out_dir / "master.m3u8").exists():
            return False
        return all(len(_playlist_segments(p)) >= self.min_segments for p in self._playlists())


class HlsSink2Packager(_NginxClient):
    """GStreamer's hlssink2 (gst-launch-1.0): live HLS at /hls/NAME/index.m3u8, MPEG-TS segments.

    videotestsrc `size`@`fps` (clock burnt in) → x264enc ultrafast, GOP `gop_seconds` (hlssink2 also asks
    for a keyframe at every segment start) → h264parse → hlssink2 target-duration `segment_seconds`; with
    `audio`, an AAC tone (voaacenc) as the second stream. Ready when `min_segments` segments are listed.
    """

    ready_timeout = 30.0

    def __init__(self, nginx: NginxServer, name: str = "hlssink2", size: str = "320x240", fps: int = 15,
                 gop_seconds: int = 2, segment_seconds: int = 2, list_size: int = 6, audio: bool = False,
                 min_segments: int = 2, bitrate_kbps: int = 300):  # fmt: skip
        super().__init__(nginx, f"hls_{name}")
        self.stream, self.size, self.fps, self.gop_seconds = name, size, fps, gop_seconds
        self.segment_seconds, self.list_size, self.audio = segment_seconds, list_size, audio
        self.min_segments, self.bitrate_kbps = min_segments, bitrate_kbps
        self.out_dir = nginx.hls_dir / name

    def _prepare(self):
        super()._prepare()
        require("gst-launch-1.0")
        shutil.rmtree(self.out_dir, ignore_errors=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.chmod(0o755)

    @property
    def url(self) -> str:
        return self.nginx.http_url(f"/hls/{self.stream}/index.m3u8")

    def _command(self):
        w, h = self.size.split("x")
        video = (
            f"videotestsrc is-live=true pattern=ball ! video/x-raw,format=I420,width={w},height={h},"
            f"framerate={self.fps}/1 ! timeoverlay ! x264enc tune=zerolatency speed-preset=ultrafast "
            f"bitrate={self.bitrate_kbps} key-int-max={self.fps * self.gop_seconds} threads=1 ! h264parse ! "
            f"hlssink2 name=hls location={self.out_dir}/seg%05d.ts playlist-location={self.out_dir}/index.m3u8 "
            f"target-duration={self.segment_seconds} playlist-length={self.list_size} max-files={self.list_size + 4}"
        )
        audio = (
            " audiotestsrc is-live=true wave=sine freq=440 volume=0.3 ! audio/x-raw,rate=44100,channels=1 "
            "! audioconvert ! voaacenc bitrate=64000 ! aacparse ! hls.audio"
            if self.audio
            else ""
        )
        return ["gst-launch-1.0", "-q", *(video + audio).split()]

    def segments(self) -> list[str]:
        return _playlist_segments(self.out_dir / "index.m3u8")

    def _is_ready(self):
        return len(self.segments()) >= self.min_segments


class CodecSwitchHls(_NginxClient):
    """Live HLS whose codec switches mid-stream (tests/lab/hls_switch.py): `run` segments of H.264, an
    ``#EXT-X-DISCONTINUITY``, `run` segments of HEVC, and so on, on one continuous timeline; MPEG-TS
    segments of one GOP (`segment_seconds`) each, `size`@`fps`, at /hls/NAME/index.m3u8.

    The templates (one per codec, `run` segments long) are encoded once per parameter set into
    run_dir/clips (cached); while it runs the lab only re-stamps them by stream copy. Ready at once
    (3 segments are published at start), then one segment per `segment_seconds`.
    """

    ready_timeout = 60.0  # the first start encodes the templates

    def __init__(self, nginx: NginxServer, name: str = "switch", size: str = "320x240", fps: int = 15,
                 segment_seconds: int = 2, run: int = 4, list_size: int = 6):  # fmt: skip
        super().__init__(nginx, f"hls_{name}")
        self.stream, self.size, self.fps, self.segment_seconds = name, size, fps, segment_seconds
        self.run, self.list_size = run, list_size
        self.out_dir = nginx.hls_dir / name
        self.template_dir = self.run_dir / "clips" / f"switch_{size}_{fps}_{segment_seconds}s_x{run}"

    @property
    def url(self) -> str:
        return self.nginx.http_url(f"/hls/{self.stream}/index.m3u8")

    def _encode_templates(self) -> None:
        d = self.template_dir
        if all((d / f"{c}_{self.run - 1:03d}.ts").exists() for c in ("h264", "hevc")):
            return
        d.mkdir(parents=True, exist_ok=True)
        gop = self.fps * self.segment_seconds
        codecs = {
            "h264": ["-c:v", "libx264", "-preset", "veryfast", "-profile:v", "baseline", "-bf", "0",
                     "-g", str(gop), "-keyint_min", str(gop), "-sc_threshold", "0"],
            "hevc": ["-c:v", "libx265", "-preset", "ultrafast", "-x265-params",
                     f"keyint={gop}:min-keyint={gop}:scenecut=0:bframes=0:open-gop=0:repeat-headers=1:log-level=error"],
        }  # fmt: skip
        for i, (codec, args) in enumerate(codecs.items()):
            tmp = d / f".{codec}.{os.getpid()}"
            shutil.rmtree(tmp, ignore_errors=True)
            tmp.mkdir()
            label = f"drawtext=text='{codec} %{{frame_num}}':x=10:y=10:fontsize=20:fontcolor=white:box=1:boxcolor=black"
            seconds = str(self.run * self.segment_seconds)
            base = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi",
                    "-i", f"testsrc2=size={self.size}:rate={self.fps}", "-t", seconds]  # fmt: skip
            tail = [*args, "-pix_fmt", "yuv420p", "-b:v", "300k", "-f", "segment", "-segment_time",
                    str(self.segment_seconds), "-segment_format", "mpegts", "-reset_timestamps", "1",
                    str(tmp / f"{codec}_%03d.ts")]  # fmt: skip
            # a different pattern offset per codec, so a switch is visible; drawtext needs a font (else none)
            r = subprocess.run([*base, "-vf", f"hue=h={i * 120},{label}", *tail], capture_output=True, text=True)
            if r.returncode != 0:
                r = subprocess.run([*base, "-vf", f"hue=h={i * 120}", *tail], capture_output=True, text=True)
            if r.returncode != 0:
                raise LabError(f"{self.name}: encoding the {codec} templates failed: {r.stderr[-1500:]}")
            made = sorted(tmp.glob(f"{codec}_*.ts"))
            if len(made) != self.run:
                raise LabError(f"{self.name}: {len(made)} {codec} template segments, wanted {self.run}")
            for f in made:
                os.replace(f, d / f.name)
            shutil.rmtree(tmp, ignore_errors=True)

    def _prepare(self):
        super()._prepare()
        self._encode_templates()
        shutil.rmtree(self.out_dir, ignore_errors=True)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.out_dir.chmod(0o755)

    def _command(self):
        return [
            sys.executable,
            "-u",
            str(HLS_SWITCH_SCRIPT),
            "--out",
            str(self.out_dir),
            "--template",
            f"h264={self.template_dir}/h264_%03d.ts",
            "--template",
            f"hevc={self.template_dir}/hevc_%03d.ts",
            "--run",
            str(self.run),
            "--seconds",
            str(self.segment_seconds),
            "--window",
            str(self.list_size),
        ]

    def segments(self) -> list[str]:
        return _playlist_segments(self.out_dir / "index.m3u8")

    def _is_ready(self):
        return b"HLS switch ready" in self.log_path.read_bytes()[-65536:] and len(self.segments()) >= 2


# --------------------------------------------------------------------------- X
class Xvfb(ManagedProcess):
    """Virtual X server on a free display number (Xvfb -displayfd); `.display` is ":N"."""

    name = "xvfb"
    ready_timeout = 15.0

    def __init__(self, screen: str = "1920x1080x24", run_dir: Path | str | None = None, name: str | None = None):
        self._own_dir = run_dir is None
        super().__init__(run_dir or tempfile.mkdtemp(prefix="vigil-xvfb-"), name)
        self.screen = screen
        self.display: str | None = None
        self._rfd = self._wfd = None

    def _prepare(self):
        require("Xvfb")
        self._rfd, self._wfd = os.pipe()
        self._displayfd_buf = ""
        self.display = None

    def _command(self):
        return [
            "Xvfb",
            "-displayfd",
            str(self._wfd),
            "-screen",
            "0",
            self.screen,
            "-nolisten",
            "tcp",
            "-noreset",
        ]

    def _popen_kwargs(self):
        return {"pass_fds": (self._wfd,)}

    def _is_ready(self):
        if self._wfd is not None:  # our copy of the write end: close once the child has it
            os.close(self._wfd)
            self._wfd = None
        # Xvfb writes the number and the newline in two write()s and dies (EPIPE: "Cannot write display
        # number") if the read end is closed in between: read until the newline before closing.
        r, _, _ = select.select([self._rfd], [], [], 0.1)
        if not r:
            return False
        chunk = os.read(self._rfd, 64).decode()
        self._displayfd_buf += chunk
        if "\n" not in self._displayfd_buf:
            return False
        self.display = f":{int(self._displayfd_buf.strip())}"
        os.close(self._rfd)
        self._rfd = None
        return True

    def _cleanup(self):
        if self._own_dir:
            shutil.rmtree(self.run_dir, ignore_errors=True)
            self.run_dir.mkdir(parents=True, exist_ok=True)  # a restart() logs there again
        for fd in (self._rfd, self._wfd):
            if fd is not None:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self._rfd = self._wfd = None

    def env(self) -> dict[str, str]:
        """os.environ copy for a child that should draw on this display."""
        return {**os.environ, "DISPLAY": self.display or "", "QT_QPA_PLATFORM": "xcb"}


class TrayHost(ManagedProcess):
    """A system tray (trayer, XEmbed) on an Xvfb display, so QSystemTrayIcon and its balloons really exist."""

    name = "trayer"
    ready_timeout = 10.0

    def __init__(self, display: str, run_dir: Path | str, name: str | None = None):
        super().__init__(run_dir, name)
        self.display = display

    def _prepare(self):
        require("trayer")

    def _command(self):
        return ["trayer", "--expand", "false", "--widthtype", "pixel", "--width", "120", "--SetDockType", "true"]

    def _popen_kwargs(self):
        return {"env": {**os.environ, "DISPLAY": self.display}}


# --------------------------------------------------------------------------- Prometheus
class PrometheusServer(ManagedProcess):
    """Debian `prometheus` with its own config + TSDB under run_dir, on a free loopback port."""

    name = "prometheus"
    port_attrs = ("port",)
    ready_timeout = 30.0

    def __init__(
        self,
        run_dir,
        scrape_targets: Iterable[tuple[str, int]] = (),
        scrape_interval: str = "1s",
        port: int | None = None,
        job: str = "vigil",
        metrics_path: str = "/metrics",
        name: str | None = None,
    ):
        super().__init__(run_dir, name)
        self.targets = [(h, int(p)) for h, p in scrape_targets]
        for h, _ in self.targets:
            if not (h.startswith("127.") or h == "localhost"):
                raise ValueError(f"scrape target {h!r} is not loopback")
        self.scrape_interval, self.port, self.job, self.metrics_path = (
            scrape_interval,
            port,
            job,
            metrics_path,
        )
        self.dir = self.run_dir / self.name
        self.config_path = self.dir / "prometheus.yml"

    def _prepare(self):
        require("prometheus")
        self.port = self.port or free_port()
        (self.dir / "data").mkdir(parents=True, exist_ok=True)
        targets = ", ".join(f"'{h}:{p}'" for h, p in self.targets)
        self.config_path.write_text(
            "# generated by tests/lab/servers.py\n"
            f"global:\n  scrape_interval: {self.scrape_interval}\n"
            f"  evaluation_interval: {self.scrape_interval}\n"
            "scrape_configs:\n"
            f"  - job_name: '{self.job}'\n"
            f"    metrics_path: '{self.metrics_path}'\n"
            f"    scrape_timeout: {self.scrape_interval}\n"
            f"    static_configs:\n      - targets: [{targets}]\n"
        )

    def _command(self):
        return [
            "prometheus",
            f"--config.file={self.config_path}",
            f"--storage.tsdb.path={self.dir / 'data'}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            "--web.enable-lifecycle",
            "--storage.tsdb.retention.time=1h",
            "--log.level=warn",
        ]

    def _is_ready(self):
        return self._owns(self.port) and http_get(self.url("/-/ready"), timeout=1)[0] == 200

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    def query(self, expr: str) -> list[dict]:
        """Instant query; returns data.result (list of {"metric": {...}, "value": [t, "v"]})."""
        import json

        status, body = http_get(self.url("/api/v1/query?" + urllib.parse.urlencode({"query": expr})), timeout=5)
        doc = json.loads(body)
        if status != 200 or doc.get("status") != "success":
            raise LabError(f"prometheus query {expr!r} failed ({status}): {doc}")
        return doc["data"]["result"]

    def wait_for(self, expr: str, timeout: float = 20.0, predicate: Callable[[list], bool] = bool) -> list[dict]:
        """Poll query(expr) until predicate(result) (default: non-empty); TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        result: list = []
        while time.monotonic() < deadline:
            result = self.query(expr)
            if predicate(result):
                return result
            time.sleep(0.5)
        raise TimeoutError(f"prometheus: {expr!r} still {result!r} after {timeout:.0f} s")

    def targets_health(self) -> list[dict]:
        import json

        return json.loads(http_get(self.url("/api/v1/targets"))[1])["data"]["activeTargets"]


# --------------------------------------------------------------------------- Alertmanager
class AlertmanagerServer(ManagedProcess):
    """Debian `prometheus-alertmanager` on a free loopback port, a fresh storage dir per start.

    ``resolve_timeout`` is the global setting that expires an alert not posted again in time (Alertmanager's
    default is 5m; the lab's 20s shows a forgotten re-send within a test). Gossip is off
    (``--cluster.listen-address=`` empty: no listener on 0.0.0.0:9094). Alertmanager remembers the
    notifications it sent in its storage dir, so every start gets a new one (a reused dir sends no
    webhook). With *webhook_url* (loopback only) its notifications go there (group_wait/interval 1 s,
    ``send_resolved``): what on-call would be paged with."""

    name = "alertmanager"
    port_attrs = ("port",)
    ready_timeout = 30.0

    def __init__(self, run_dir, resolve_timeout: str = "20s", webhook_url: str | None = None,
                 port: int | None = None, name: str | None = None):  # fmt: skip
        super().__init__(run_dir, name)
        if webhook_url is not None:
            host = urllib.parse.urlsplit(webhook_url).hostname or ""
            if not host.startswith("127."):
                raise ValueError(f"webhook receiver {host!r} is not loopback")
        self.resolve_timeout, self.webhook_url, self.port = resolve_timeout, webhook_url, port
        self.dir = self.run_dir / self.name
        self.config_path = self.dir / "alertmanager.yml"
        self.storage: Path | None = None
        self._starts = 0

    def _prepare(self):
        require("prometheus-alertmanager")
        self.port = self.port or free_port()
        self._starts += 1
        self.storage = self.dir / f"data-{self._starts}"
        if self.storage.exists():
            shutil.rmtree(self.storage)
        self.storage.mkdir(parents=True)
        receiver = "  - name: lab\n"
        if self.webhook_url:
            receiver += f"    webhook_configs:\n      - url: '{self.webhook_url}'\n        send_resolved: true\n"
        self.config_path.write_text(
            "# generated by tests/lab/servers.py\n"
            f"global:\n  resolve_timeout: {self.resolve_timeout}\n"
            "route:\n  receiver: lab\n  group_by: ['alertname', 'camera', 'target']\n"
            "  group_wait: 1s\n  group_interval: 1s\n  repeat_interval: 1h\n"
            f"receivers:\n{receiver}"
        )

    def _command(self):
        return [
            "prometheus-alertmanager",
            f"--config.file={self.config_path}",
            f"--storage.path={self.storage}",
            f"--web.listen-address={LOOPBACK}:{self.port}",
            f"--web.external-url=http://{LOOPBACK}:{self.port}",
            "--cluster.listen-address=",
            "--log.level=warn",
        ]

    def _is_ready(self):
        return self._owns(self.port) and http_get(self.url("/-/ready"), timeout=1)[0] == 200

    def url(self, path: str = "/") -> str:
        return f"http://{LOOPBACK}:{self.port}/{path.lstrip('/')}"

    @property
    def alerts_url(self) -> str:
        """Where clients post: ``POST /api/v2/alerts``."""
        return self.url("/api/v2/alerts")

    def alerts(self) -> list[dict]:
        """``GET /api/v2/alerts``: the alerts Alertmanager holds as not resolved (each with ``labels``,
        ``startsAt``, ``endsAt`` and ``status.state``: active, suppressed or unprocessed)."""
        import json

        status, body = http_get(self.alerts_url, timeout=5)
        if status != 200:
            raise LabError(f"alertmanager GET /api/v2/alerts answered {status}: {body[:300]!r}")
        return json.loads(body)

    def active(self, **labels: str) -> list[dict]:
        """The alerts in state "active" whose labels include *labels*."""
        return [a for a in self.alerts() if a.get("status", {}).get("state") == "active"
                and all(a["labels"].get(k) == v for k, v in labels.items())]  # fmt: skip


# --------------------------------------------------------------------------- PostgreSQL
def _pg_bin(tool: str) -> str:
    for d in PG_BIN_DIRS:
        p = os.path.join(d, tool)
        if os.access(p, os.X_OK):
            return p
    found = shutil.which(tool)
    if not found:
        raise LabError(f"PostgreSQL server binary {tool!r} not found (apt-get install postgresql)")
    return found


class PostgresServer(ManagedProcess):
    """A throw-away PostgreSQL cluster on a free loopback port (trust auth, loopback + private socket).

    As root the cluster runs as the `postgres` user (PostgreSQL refuses to run as root) and lives
    in a /tmp dir owned by it (pytest tmp dirs are not reachable by other users); its log is in run_dir.
    """

    name = "postgres"
    port_attrs = ("port",)
    ready_timeout = 30.0
    stop_signal = signal.SIGINT  # "fast" shutdown: disconnect clients, no waiting

    def __init__(
        self,
        run_dir,
        database: str = "vigil",
        user: str = "vigil",
        port: int | None = None,
        os_user: str = "postgres",
        name: str | None = None,
    ):
        super().__init__(run_dir, name)
        self.database, self.user, self.port = database, user, port
        self._as_root = os.geteuid() == 0
        self._os_user = pwd.getpwnam(os_user) if self._as_root else None
        self.base_dir: Path | None = None
        self._initialised = False

    @property
    def data_dir(self) -> Path:
        return self.base_dir / "data"

    @property
    def socket_dir(self) -> Path:
        return self.base_dir / "sock"

    def _demote(self) -> dict:
        if not self._as_root:
            return {}
        return {"user": self._os_user.pw_uid, "group": self._os_user.pw_gid, "extra_groups": []}

    def _initdb(self):
        if self._as_root:
            self.base_dir = Path(tempfile.mkdtemp(prefix="vigil-pg-"))
            os.chown(self.base_dir, self._os_user.pw_uid, self._os_user.pw_gid)
        else:
            self.base_dir = self.run_dir / self.name
            self.base_dir.mkdir(parents=True, exist_ok=True)
        env = {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}
        for d in (self.data_dir, self.socket_dir):
            subprocess.run(["mkdir", "-p", "-m", "700", str(d)], check=True, **self._demote())
        r = subprocess.run(
            [
                _pg_bin("initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
            ],
            capture_output=True,
            text=True,
            env=env,
            cwd="/",
            **self._demote(),
        )
        with open(self.log_path, "a") as f:
            f.write(r.stdout + r.stderr)
        if r.returncode != 0:
            raise ServerStartError(f"initdb failed:\n{r.stdout[-1500:]}\n{r.stderr[-1500:]}")
        self._initialised = True

    def _prepare(self):
        if not self._initialised:
            self._initdb()
        self.port = self.port or free_port()

    def _command(self):
        return [
            _pg_bin("postgres"),
            "-D",
            str(self.data_dir),
            "-p",
            str(self.port),
            "-h",
            LOOPBACK,
            "-k",
            str(self.socket_dir),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=50",
            "-c",
            "shared_buffers=32MB",
            "-c",
            "logging_collector=off",
        ]

    def _popen_kwargs(self):
        return {**self._demote(), "cwd": "/"}

    def _is_ready(self):
        r = subprocess.run([_pg_bin("pg_isready"), "-h", LOOPBACK, "-p", str(self.port), "-q"], capture_output=True)
        return r.returncode == 0 and self._owns(self.port)

    def _after_ready(self):
        r = subprocess.run(
            [
                _pg_bin("psql"),
                "-h",
                LOOPBACK,
                "-p",
                str(self.port),
                "-U",
                self.user,
                "-d",
                "postgres",
                "-tAc",
                f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'",
            ],
            capture_output=True,
            text=True,
        )
        if r.stdout.strip() != "1":
            r = subprocess.run(
                [_pg_bin("createdb"), "-h", LOOPBACK, "-p", str(self.port), "-U", self.user, self.database],
                capture_output=True,
                text=True,
            )
            if r.returncode != 0:
                raise ServerStartError(f"createdb {self.database} failed: {r.stderr}")

    @property
    def dsn(self) -> str:
        return f"host={LOOPBACK} port={self.port} user={self.user} dbname={self.database}"

    @property
    def sqlalchemy_url(self) -> str:
        return f"postgresql+psycopg2://{self.user}@{LOOPBACK}:{self.port}/{self.database}"

    def destroy(self) -> None:
        """Stop and delete the cluster's files (a later start() runs initdb again)."""
        self.stop()
        if self.base_dir:
            shutil.rmtree(self.base_dir, ignore_errors=True)
        self._initialised = False

    def __exit__(self, *exc) -> None:
        self.destroy()


# --------------------------------------------------------------------------- misc
def stop_all(servers: Iterable[ManagedProcess]) -> None:
    """Stop servers in the given order, logging (not raising) individual failures."""
    for s in servers:
        try:
            s.stop()
        except Exception:
            log.exception("stopping %r failed", s)
