"""Subprocess for the kill -9 tests: records cameras into ROOT until it is killed.

    record_child.py ROOT ID=URL [ID=URL ...] [--segment-seconds S] [--packet-log FILE]

With ``--packet-log``, every video packet a camera's pipeline hands its recorder is appended to FILE as
``<camera> <pts in seconds> <keyframe 0|1>`` (an ``open <camera>`` line at each connection) with one
unbuffered ``write`` per line: a line is in the file (the page cache survives a SIGKILL) as soon as its
packet is in the recorder's queue, so the test knows the newest packet the recorder had been given when
the kill came."""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder


class PacketLog:
    """A packet sink (added after the recorder: it sees each packet once the recorder has queued it)."""

    def __init__(self, camera_id: str, fd: int) -> None:
        self.camera_id, self.fd = camera_id, fd
        self._video: int | None = None

    def on_open(self, container) -> None:
        self._video = container.streams.video[0].index if container.streams.video else None
        os.write(self.fd, f"open {self.camera_id}\n".encode())

    def on_packet(self, packet) -> None:
        if packet.stream_index != self._video or packet.pts is None or packet.size == 0:
            return
        t = float(packet.pts * packet.time_base)
        os.write(self.fd, f"{self.camera_id} {t:.6f} {int(packet.is_keyframe)}\n".encode())

    def on_close(self) -> None:
        pass


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("root", type=Path)
    ap.add_argument("cameras", nargs="+", help="ID=URL")
    ap.add_argument("--segment-seconds", type=float, default=2.0)
    ap.add_argument("--packet-log", type=Path)
    a = ap.parse_args()
    fd = os.open(a.packet_log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644) if a.packet_log else None
    for spec in a.cameras:
        cam, url = spec.split("=", 1)
        p = CameraPipeline(cam, cam, url)
        rec = CameraRecorder(cam, a.root, segment_seconds=a.segment_seconds, reserve_mb=0)
        p.add_packet_sink(rec)
        if fd is not None:
            p.add_packet_sink(PacketLog(cam, fd))
        rec.start()
        p.start()
    print("recording", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
