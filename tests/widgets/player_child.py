"""Subprocess for the backend-choice tests: opens PlayerWidget(backend="auto") on the recordings of
camera "play" under ROOT in whatever Qt platform / libvlc environment it was started with, plays across
one segment boundary and prints one JSON line: the backend chosen and what playback reached."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from PySide6.QtWidgets import QApplication

from app.recording.playback import Timeline
from app.recording.segments import DirectoryIndex
from widgets.player import PlayerWidget


def main() -> None:
    root = Path(sys.argv[1])
    app = QApplication(sys.argv[:1])
    index = DirectoryIndex(root)
    tl = Timeline("play", tuple(index.segments("play")))
    k = len(tl.segments) - 3  # segment k + 1 is a full one
    w = PlayerWidget(tl, backend="auto")
    w.resize(640, 420)
    w.show()
    target = tl.segments[k].end - 0.6
    w.seek(target)
    w.toggle_play()
    deadline = time.monotonic() + 20
    backend = w.vlc or w.pyav
    while time.monotonic() < deadline:
        app.processEvents()  # the widget's own 40 ms timer drives the backend
        pos = w.position or 0.0
        if pos >= tl.segments[k + 1].start + 0.3:
            break
        time.sleep(0.02)
    out = {
        "platform": app.platformName(),
        "backend": w.backend_name,
        "position": w.position,
        "next_start": tl.segments[k + 1].start,
        "next_end": tl.segments[k + 1].end,
        "vlc_index": w.vlc.index if w.vlc is not None else None,
        "k": k,
        "picture": w.pyav is not None and w.picture.pixmap() is not None and not w.picture.pixmap().isNull(),
    }
    del backend
    w.close_player()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
