"""PyInstaller runtime hook: tell libvlc where its plugins are.

PyInstaller copies libvlc (python-vlc loads it with ctypes) but not the plugin folder, so
``vlc.Instance()`` returns None in a bundle. Prefer plugins shipped inside the bundle (``vlc/plugins``),
then the system's (Debian/Ubuntu: apt vlc-plugin-base). A VLC_PLUGIN_PATH set by the user wins.
"""

import os
import sys

_base = getattr(sys, "_MEIPASS", os.path.dirname(sys.executable))
_candidates = [
    os.path.join(_base, "vlc", "plugins"),
    "/usr/lib/x86_64-linux-gnu/vlc/plugins",
    "/usr/lib/aarch64-linux-gnu/vlc/plugins",
    "/usr/lib64/vlc/plugins",
    "/usr/lib/vlc/plugins",
    "/Applications/VLC.app/Contents/MacOS/plugins",
]
if not os.environ.get("VLC_PLUGIN_PATH"):
    for _d in _candidates:
        if os.path.isdir(_d):
            os.environ["VLC_PLUGIN_PATH"] = _d
            break
