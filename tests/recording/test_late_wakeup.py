"""A camera thread that wakes up after Vigil stopped delivers nothing: ``Supervisor.stop`` returns within its
bound while a thread is still blocked inside FFmpeg (a camera that went silent mid-stream), the recorders and
the store stop after it, and when that thread's read finally ends it must not reach the recorder (no packet,
no close, no file written) nor raise."""

from __future__ import annotations

import logging
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest

from app.config import AppConfig, CameraConfig, CameraRecordingSettings, PipelineSettings, RecordingSettings
from app.pipeline.supervisor import TILE, Supervisor
from app.recording.segments import PART_SUFFIX, DirectoryIndex
from app.recording.service import RecorderService
from tests.helpers import wait_for
from tests.probes.tcp_peers import _Server

pytestmark = pytest.mark.lab

HANG_S = 30  # hang checks only


class GoesSilentHttpServer(_Server):
    """Progressive HTTP MPEG-TS: answers a GET with *body* (a few seconds of a real stream), then says nothing
    more and keeps the connection open until the server closes: a camera that went silent mid-stream."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        super().__init__()

    def serve(self, conn: socket.socket) -> None:
        request = b""
        while b"\r\n\r\n" not in request:
            chunk = conn.recv(4096)
            if not chunk:
                return
            request += chunk
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: video/mp2t\r\nConnection: close\r\n\r\n" + self.body)
        while not self._stop.is_set():
            conn.settimeout(0.2)
            try:
                if not conn.recv(4096):
                    return
            except TimeoutError:
                continue


def _ts_of(clip: Path, out: Path, seconds: int = 4) -> bytes:
    subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-y", "-i", str(clip), "-t",
                    str(seconds), "-c", "copy", "-f", "mpegts", str(out)], check=True, timeout=60)  # fmt: skip
    return out.read_bytes()


def _files(root: Path) -> dict[str, tuple[int, int]]:
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()}


def test_a_camera_thread_waking_after_stop_delivers_nothing_to_the_stopped_recorder(lab_clip, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    crashes: list[threading.ExceptHookArgs] = []
    old_hook = threading.excepthook
    threading.excepthook = crashes.append
    peer = GoesSilentHttpServer(_ts_of(lab_clip, tmp_path / "clip.ts"))
    root = tmp_path / "rec"
    cam = CameraConfig(id="dock", name="Dock", url=peer.url("http", "/dock.ts"),
                       recording=CameraRecordingSettings(mode="continuous"))  # fmt: skip
    # a read time-out far beyond the stop bound (3 s): the thread is still blocked when everything has stopped
    cfg = AppConfig(cameras=[cam], recording=RecordingSettings(segment_seconds=1, reserve_mb=0),
                    pipeline=PipelineSettings(open_timeout_s=10, read_timeout_s=90, stall_after_s=90))  # fmt: skip
    service = RecorderService(cfg.recording, root, index=DirectoryIndex(root))
    sup = Supervisor(cfg)
    sup.add_record_hook(service.attach)
    stopped = threading.Event()
    late: list[str] = []  # sink calls made after the recorder stopped
    try:
        service.start()
        sup.start()
        pipe = sup.pipeline("dock", TILE)
        rec = service.recorder("dock")
        assert pipe is not None and rec is not None
        for name in ("on_open", "on_packet", "on_close"):
            real = getattr(rec, name)

            def spy(*args, _real=real, _name=name):
                if stopped.is_set():
                    late.append(_name)
                return _real(*args)

            setattr(rec, name, spy)  # the pipeline calls the sink's attributes: these, from now on
        wait_for(lambda: rec.status().segments_total >= 1, timeout=HANG_S, what=f"a closed segment ({rec.status()})")
        # the body is played at its pace; then the read blocks inside FFmpeg: no packet for a while
        last = [-1, time.monotonic()]

        def silent_for_2_s():
            n = pipe.snapshot().packets_received_total
            if n != last[0]:
                last[:] = [n, time.monotonic()]
            return n > 0 and time.monotonic() - last[1] >= 2.0

        wait_for(silent_for_2_s, timeout=HANG_S, what="the camera to go silent mid-stream")

        t0 = time.monotonic()
        assert sup.stop() is False  # gave up on the blocked thread ...
        assert time.monotonic() - t0 < HANG_S  # hang check: bounded (3 s here)
        assert pipe.running  # ... which is still blocked in FFmpeg's read
        assert "camera connection(s) still closing after 3 s" in caplog.text
        service.stop()  # the recorder closes its own open segment
        stopped.set()
        after_stop = _files(root)
        assert after_stop and not [p for p in after_stop if p.endswith(PART_SUFFIX)], after_stop

        peer.close()  # the camera hangs up: the blocked read ends, the thread runs its clean-up and ends
        wait_for(lambda: not pipe.running, timeout=HANG_S, what="the camera thread to wake up and end")
        time.sleep(0.5)  # anything it queued would be written by now (nothing may be)
        assert late == []
        assert _files(root) == after_stop
        assert crashes == []
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR], caplog.text
    finally:
        stopped.set()
        sup.stop()
        service.stop()
        peer.close()
        threading.excepthook = old_hook
