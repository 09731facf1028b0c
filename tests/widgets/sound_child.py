"""A process that owns one real AlarmSound, driven line by line over stdin (tests/widgets/test_alarm_sound_lab.py).

The alarm sound runs in a child so that PortAudio starts under the sound server's environment (PULSE_SERVER,
the private HOME with its .asoundrc) without touching the test process, and so that every test gets a fresh
PortAudio. Commands, one per line; each answers one JSON line ``{"ok": ..., "words", "played", "route",
"device", "playing"}``::

    checked            wait (bounded) until the first device check is done
    tick T | tick-off  AlarmSound.tick(True, now=T) / tick(False): "ok" is what tick returned
    mute | unmute      as the panel's Mute button (muted + stop())
    recheck            look for a device now
    status             just the state
    quit               close the sound (waits for the worker) and exit

``--no-portaudio``: ctypes finds no ``portaudio`` library, as on a machine without Debian's libportaudio2, so
the real ``import sounddevice`` raises its own OSError("PortAudio library not found").
"""

from __future__ import annotations

import argparse
import ctypes.util
import json
import sys

from PySide6.QtWidgets import QApplication


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--wav")
    ap.add_argument("--recheck-s", type=float, default=180.0)
    ap.add_argument("--no-portaudio", action="store_true")
    args = ap.parse_args()
    if args.no_portaudio:
        real = ctypes.util.find_library
        ctypes.util.find_library = lambda name: None if name == "portaudio" else real(name)
    from widgets.alarm_panel import AlarmSound

    app = QApplication(sys.argv[:1])  # QApplication.beep(), the last resort, needs one
    sound = AlarmSound(enabled=True, wav=args.wav, recheck_s=args.recheck_s)

    def answer(ok) -> None:
        state = {"words": sound.status_words, "played": sound.played, "route": sound.route,
                 "device": sound.device, "playing": sound.playing}  # fmt: skip
        print(json.dumps({"ok": ok, **state}), flush=True)

    for line in sys.stdin:
        cmd, *rest = line.split()
        app.processEvents()
        if cmd == "checked":
            answer(sound.checked.wait(30))
        elif cmd == "tick":
            answer(sound.tick(True, now=float(rest[0])))
        elif cmd == "tick-off":
            answer(sound.tick(False))
        elif cmd in ("mute", "unmute"):
            sound.muted = cmd == "mute"
            if sound.muted:
                sound.stop()
            answer(True)
        elif cmd == "recheck":
            sound.recheck()
            answer(True)
        elif cmd == "status":
            answer(True)
        elif cmd == "quit":
            sound.close(wait_s=5)
            answer(True)
            return 0
        else:
            answer(f"unknown command {cmd!r}")
    sound.close(wait_s=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
