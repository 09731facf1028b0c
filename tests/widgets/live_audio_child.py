"""A process with one real MainWindow whose focused camera's sound is tested (tests/widgets/test_live_audio_lab.py).

Live audio runs in a child so that PortAudio starts under the sound server's environment (PULSE_SERVER, the
private HOME with its .asoundrc; tests/lab/audio.py) without touching the test process. One camera, URL given
on the command line. Commands on stdin, one per line; each answers one JSON line ``{"ok", "muted", "words",
"playing", "callbacks", "samples", "level", "device"}``::

    focus        focus the camera and wait (bounded) until its audio is decoded, or the tap says why not
    unmute       as M: sound on; waits (bounded) until the worker has opened (or failed to open) the output
    mute         as M again: sound off; waits until the output is closed
    status       just the state
    quit         shut the window and the runtime down and exit
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

from PySide6.QtCore import QSocketNotifier
from PySide6.QtWidgets import QApplication

from app.config import AppConfig, CameraConfig, WallConfig
from app.runtime import Runtime
from tests.widgets.conftest import FAST, make_paths


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--url", required=True)
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(threadName)s %(name)s: %(message)s")
    app = QApplication(sys.argv[:1])
    from widgets.main_window import MainWindow

    cam = CameraConfig(name="Gate North", group="Depot", url=args.url)
    cfg = AppConfig(cameras=[cam], wall=WallConfig(layout="2x2", confirm_close=False), pipeline=FAST)
    rt = Runtime(config=cfg, paths=make_paths(Path(tempfile.mkdtemp(prefix="vigil-live-audio-"))))
    rt.start()
    win = MainWindow(rt)
    win.resize(1280, 720)
    win.show()
    la = win.live_audio

    def spin_until(cond, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            app.processEvents()
            if cond():
                return True
            time.sleep(0.02)
        return False

    def answer(ok) -> None:
        tap = la.tap
        state = {"muted": la.muted, "words": la.words, "playing": la.player.playing, "callbacks": la.player.callbacks,
                 "samples": tap.samples_decoded if tap else 0, "level": tap.level_dbfs() if tap else None,
                 "device": la.player.device}  # fmt: skip
        print(json.dumps({"ok": ok, **state}), flush=True)

    def on_line() -> None:
        line = sys.stdin.readline()
        if not line:
            app.quit()
            return
        cmd = line.strip()
        if cmd == "focus":
            win.wall.focus_camera(cam.id)
            answer(spin_until(lambda: la.tap is not None and (la.tap.samples_decoded > 4800 or la.words), 30))
        elif cmd in ("unmute", "mute"):
            if la.muted != (cmd == "mute"):
                win.live_audio_action.trigger()  # the M key's action
            want_on = cmd == "unmute"
            answer(spin_until(lambda: la.settled and (la.player.playing or bool(la.output_words)) == want_on, 20))
        elif cmd == "status":
            spin_until(lambda: False, 0.05)
            answer(True)
        elif cmd == "quit":
            win.shutdown()
            rt.stop()
            answer(True)
            app.quit()
        else:
            answer(f"unknown command {cmd!r}")

    notifier = QSocketNotifier(sys.stdin.fileno(), QSocketNotifier.Type.Read)
    notifier.activated.connect(on_line)
    app.exec()
    return 0


if __name__ == "__main__":
    sys.exit(main())
