"""Fixtures for the wall's widget tests: a real Runtime (real pipelines on demo/lab sources) + MainWindow."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.config import AppConfig, CameraConfig, PipelineSettings, WallConfig
from app.paths import Paths
from app.runtime import Runtime

FAST = PipelineSettings(open_timeout_s=4, read_timeout_s=3, stall_after_s=3, backoff_initial_s=0.3, backoff_cap_s=1.5)


def demo_cam(name: str, pattern: str = "testsrc2", size: str = "320x180", group: str = "Test", **kw) -> CameraConfig:
    return CameraConfig(name=name, group=group, url=f"demo://{pattern}?pattern={pattern}&size={size}&rate=10", **kw)


def make_config(cameras: list[CameraConfig], layout: str = "3x3", **wall) -> AppConfig:
    return AppConfig(cameras=cameras, wall=WallConfig(layout=layout, **wall), pipeline=FAST)


def make_paths(tmp: Path) -> Paths:
    return Paths(config_file=tmp / "vigil.json", data_dir=tmp, recordings_dir=tmp / "rec", log_dir=tmp / "logs")


@pytest.fixture
def make_window(qtbot, tmp_path):
    """make(config, demo=False, recording=False, **services) -> started MainWindow; its runtime is stopped
    after the test.

    *recording*: compose motion, recording and retention (``app.compose.add_recording``) as the app does.
    *services* are Runtime fields set before it starts (e.g. ``probes=scheduler``, ``store=store``).
    """
    from widgets.main_window import MainWindow

    made: list[tuple[MainWindow, Runtime]] = []

    def make(config: AppConfig, demo: bool = False, size=(1280, 720), recording: bool = False,
             **services) -> MainWindow:  # fmt: skip
        rt = Runtime(config=config, paths=make_paths(tmp_path), demo=demo)
        if recording:
            from app.compose import add_recording

            add_recording(rt)
        for name, svc in services.items():
            setattr(rt, name, svc)
        rt.start()
        win = MainWindow(rt)
        made.append((win, rt))
        qtbot.addWidget(win)
        win.resize(*size)
        win.show()
        qtbot.waitExposed(win)
        return win

    yield make
    for win, rt in reversed(made):
        win.shutdown()
        rt.stop()
