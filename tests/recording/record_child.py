"""Subprocess used by the kill -9 test: records URL into ROOT with 2 s segments until killed."""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from app.pipeline.pipeline import CameraPipeline
from app.recording.recorder import CameraRecorder


def main() -> None:
    url, root = sys.argv[1], Path(sys.argv[2])
    p = CameraPipeline("crash", "Crash", url)
    rec = CameraRecorder("crash", root, segment_seconds=2.0, reserve_mb=0)
    p.add_packet_sink(rec)
    rec.start()
    p.start()
    print("recording", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    main()
