"""The built-in demo wall: synthetic cameras (FFmpeg lavfi through PyAV), no server and no camera needed.

Each tile shows a different moving pattern; "Gate (flaky)" drops offline for 12 s every 45 s and comes
back on its own, so a new user sees OFFLINE, the reason in words, and the automatic recovery.
"""

from __future__ import annotations

from app.config import AppConfig, CameraConfig, WallConfig

_DEMO = [
    ("Lobby", "HQ", "testsrc2", ""),
    ("Car park", "HQ", "life", ""),
    ("Loading bay", "HQ", "zoneplate", ""),
    ("Gate (flaky)", "Depot", "smptehdbars", "&outage=12/45"),
    ("Corridor", "Depot", "cellauto", ""),
    ("Server room", "Depot", "gradients", ""),
    ("Roof", "Studio", "sierpinski", ""),
    ("Studio A", "Studio", "colorspectrum", ""),
    ("Reception", "Studio", "testsrc2", "&size=1280x720"),
]


def demo_cameras() -> list[CameraConfig]:
    cams = []
    for name, group, pattern, extra in _DEMO:
        size = "" if "size=" in extra else "&size=640x360"
        url = f"demo://{pattern}?pattern={pattern}{size}&rate=15{extra}"
        cams.append(CameraConfig(name=name, group=group, url=url))
    return cams


def demo_config() -> AppConfig:
    return AppConfig(cameras=demo_cameras(), wall=WallConfig(layout="3x3"))
