"""Loopback TCP peers that are not stream servers: the ways a camera's port can misbehave, for error-word and
reachability tests.

* :class:`SilentServer` accepts every connection and never sends a byte (a hung server); it counts accepts, so
  a test can also prove that nobody (the network probe) connected to it.
* :class:`GarbageServer` accepts and sends random bytes until the client goes (not a stream server at all).
* :class:`DroppingPort` is a listener whose accept queue is full: the kernel drops new SYNs, so a connect
  times out as it does across a dead network path.
* ``ffmpeg -listen 1`` as a one-client RTMP server: :class:`FfmpegRtmpListen` (ready once the listening
  socket shows in /proc/net/tcp, never by connecting to it: that connection would be its one client).
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

from tests.lab import ManagedProcess, free_port
from tests.lab.servers import group_listens


class _Server:
    """A threaded loopback TCP server; *serve(conn)* runs per connection on its own thread."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        self._stop = threading.Event()
        self._conns: list[socket.socket] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept_loop, name=f"peer:{self.port}", daemon=True)
        self._thread.start()

    def url(self, scheme: str, path: str = "/cam1") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def _accept_loop(self) -> None:
        self.sock.settimeout(0.1)  # closing the socket does not wake a blocked accept(): poll the stop flag
        while not self._stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            conn.settimeout(None)
            with self._lock:
                self.accepts += 1
                self._conns.append(conn)
            threading.Thread(target=self._serve_safely, args=(conn,), daemon=True).start()

    def _serve_safely(self, conn: socket.socket) -> None:
        try:
            self.serve(conn)
        except OSError:
            pass

    def serve(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.sock.close()
        with self._lock:
            conns, self._conns = self._conns, []
        for c in conns:
            try:
                c.close()
            except OSError:
                pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class SilentServer(_Server):
    """Accepts, then says nothing until the client hangs up or the server closes."""

    def serve(self, conn: socket.socket) -> None:
        while not self._stop.is_set():
            conn.settimeout(0.2)
            try:
                if not conn.recv(4096):  # read what the client sends (never answer it)
                    return
            except TimeoutError:
                continue


class GarbageServer(_Server):
    """Accepts, then sends random bytes (1 KiB every 10 ms, or as fast as the client reads) until it goes."""

    def serve(self, conn: socket.socket) -> None:
        # Blocking sends: FFmpeg's RTSP client reads its reply a byte at a time, slower than this server
        # writes on a busy machine; a send time-out here would stop the bytes and fake a silent server.
        conn.settimeout(None)
        while not self._stop.is_set():
            conn.sendall(os.urandom(1024))
            time.sleep(0.01)


class DroppingPort:
    """A port whose SYNs go unanswered: a listener with a full accept queue (backlog 0, filled, never accepted)."""

    def __init__(self) -> None:
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(0)
        self.port = self.sock.getsockname()[1]
        self._fillers = []
        for _ in range(8):
            c = socket.socket()
            c.setblocking(False)
            c.connect_ex(("127.0.0.1", self.port))
            self._fillers.append(c)
        time.sleep(0.2)  # the handshakes of the fillers complete; from now on SYNs are dropped

    def url(self, scheme: str, path: str = "/cam1") -> str:
        return f"{scheme}://127.0.0.1:{self.port}{path}"

    def close(self) -> None:
        for c in self._fillers:
            c.close()
        self.sock.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class FfmpegRtmpListen(ManagedProcess):
    """``ffmpeg -listen 1`` serving testsrc2 (H.264, GOP 1 s) to exactly one RTMP client, then exiting."""

    name = "ffmpeg-rtmp-listen"
    port_attrs = ("port",)

    def __init__(self, run_dir: Path | str, port: int | None = None) -> None:
        super().__init__(run_dir)
        self.port = port

    @property
    def url(self) -> str:
        return f"rtmp://127.0.0.1:{self.port}/live/x"

    def _prepare(self) -> None:
        if self.port is None:
            self.port = free_port()

    def _command(self) -> list[str]:
        ffmpeg = shutil.which("ffmpeg")
        if ffmpeg is None:
            from tests.lab import LabError

            raise LabError("test lab needs missing program ffmpeg")
        return [ffmpeg, "-hide_banner", "-nostdin", "-loglevel", "warning", "-re", "-f", "lavfi",
                "-i", "testsrc2=size=320x240:rate=15", "-c:v", "libx264", "-preset", "ultrafast", "-g", "15",
                "-f", "flv", "-listen", "1", self.url]  # fmt: skip

    def _is_ready(self) -> bool:
        return self._owns(self.port)  # /proc/net/tcp, like `ss -ltn`: a TCP connect would be its one client

    def listening(self) -> bool:
        return self.proc is not None and group_listens(self.proc.pid, self.port)
