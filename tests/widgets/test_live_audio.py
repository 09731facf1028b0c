"""Live audio on the wall: the tap follows the focused camera (one at a time, on its own pipeline), the strip
on the focus view says what there is to hear, M turns the sound on and off only while a camera is large.

Real Runtime + MainWindow with FFmpeg's lavfi sources: a test picture with a 440 Hz sine (amplitude 1/8,
-18.1 dBFS) as a camera with audio, a demo camera without. Nothing here opens the sound output (the sound
itself is tested against a real sound server in test_live_audio_lab.py).
"""

from __future__ import annotations

import math
import threading

import pytest
from PySide6.QtCore import Qt

from app.config import CameraConfig
from app.pipeline.audio import RATE
from app.pipeline.supervisor import MAIN, TILE
from tests.helpers import wait_for
from tests.widgets.conftest import demo_cam, make_config
from widgets.live_audio import LevelMeter, meter_fraction, sentence

SINE = "lavfi:testsrc2=size=320x180:rate=10[out0];sine=frequency=440:sample_rate=44100[out1]"
SINE_DBFS = 20 * math.log10(1 / 8)


def sine_cam(name: str = "Gate North", **kw) -> CameraConfig:
    return CameraConfig(name=name, group="Depot", url=SINE, **kw)


def audio_threads(camera_id: str) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == f"audio:{camera_id}" and t.is_alive()]


def sinks(pipeline) -> list:
    with pipeline._lock:
        return list(pipeline._packet_sinks)


def test_the_meter_fills_linearly_in_db_from_minus_60_to_0():
    assert meter_fraction(None) == 0.0 and meter_fraction(-90) == 0.0
    assert meter_fraction(-30) == pytest.approx(0.5) and meter_fraction(0) == 1.0 and meter_fraction(6) == 1.0
    assert sentence("this camera sends no audio") == "This camera sends no audio"


def test_focus_taps_the_cameras_own_pipeline_and_unfocus_lets_go(make_window, qtbot):
    a, b = sine_cam(), demo_cam("Yard")
    win = make_window(make_config([a, b], layout="2x2"))
    sup = win.runtime.supervisor
    la = win.live_audio
    wait_for(lambda: sup.pipeline(a.id) is not None and sup.pipeline(a.id).snapshot().state == "LIVE", 20,
             what="the camera live")  # fmt: skip
    assert not la.strip.isVisible() and not win.live_audio_action.isEnabled()
    win.wall.focus_camera(a.id)
    pipe = sup.pipeline(a.id, TILE)
    assert la.pipeline is pipe and la.tap in sinks(pipe)  # no sub-stream: the tile pipeline, no second connection
    assert sup.pipeline(a.id, MAIN) is None
    assert win.live_audio_action.isEnabled()
    wait_for(lambda: la.tap.samples_decoded > RATE, 15, what="a second of decoded audio")
    qtbot.waitUntil(lambda: la.strip.isVisible(), timeout=5000)
    assert la.muted and not la.player.playing and la.player.callbacks == 0  # off at focus: the device is not held
    assert la.tap.level_dbfs() == pytest.approx(SINE_DBFS, abs=1.0)
    la.refresh()
    assert la.strip.meter.level_dbfs == pytest.approx(SINE_DBFS, abs=1.0)
    assert la.strip.button.isVisible() and "press M to listen" in la.strip.button.text()
    assert la.words == ""
    # the strip sits on the focus view, above its figures line, inside the tile
    tile = win.wall.focus_tile
    g = la.strip.geometry()
    assert la.strip.parentWidget() is tile and tile.rect().contains(g)
    assert g.bottom() > tile.height() * 0.75
    tap = la.tap
    win.wall.unfocus()
    assert la.tap is None and tap not in sinks(pipe) and not la.strip.isVisible()
    wait_for(lambda: not audio_threads(a.id), 5, what="the tap's thread gone")
    assert not win.live_audio_action.isEnabled()


def test_only_the_focused_camera_is_tapped_and_a_main_stream_is_preferred(make_window):
    a = sine_cam("Dock", sub_url="demo://sub?pattern=life&size=320x180&rate=10")
    b = sine_cam("Gate")
    win = make_window(make_config([a, b], layout="2x2"))
    sup = win.runtime.supervisor
    la = win.live_audio
    wait_for(lambda: all(sup.pipeline(c.id) is not None for c in (a, b)), 10, what="both pipelines")
    win.wall.focus_camera(a.id)
    main = sup.pipeline(a.id, MAIN)
    assert main is not None and la.pipeline is main and la.tap in sinks(main)  # the focus opened the main stream
    assert la.tap not in sinks(sup.pipeline(a.id, TILE))
    wait_for(lambda: la.tap.samples_decoded > 0, 15, what="audio from the main stream")
    first = la.tap
    win.wall.focus_camera(b.id)  # straight to another camera: the first one lets go
    assert first not in sinks(main) and la.tap in sinks(sup.pipeline(b.id))
    wait_for(lambda: not audio_threads(a.id), 5, what="the first camera's tap stopped")
    tapped = [p.camera_id for p in sup.pipelines() for s in sinks(p) if type(s).__name__ == "AudioTap"]
    assert tapped == [b.id]


def test_a_camera_without_audio_says_so_and_m_does_nothing(make_window, qtbot):
    cam = demo_cam("Yard")
    win = make_window(make_config([cam], layout="2x2"))
    la = win.live_audio
    wait_for(lambda: win.runtime.supervisor.pipeline(cam.id) is not None, 10, what="the pipeline")
    win.wall.focus_camera(cam.id)
    qtbot.waitUntil(lambda: la.tap is not None and la.tap.opened, timeout=15000)
    la.refresh()
    assert la.words == "This camera sends no audio"
    assert la.strip.words.text() == "This camera sends no audio" and la.strip.words.isVisible()
    assert not la.strip.button.isVisible() and not la.strip.meter.isVisible()
    win.live_audio_action.trigger()
    assert la.muted and la.settled and not la.player.playing


def test_m_turns_the_sound_on_and_off_only_while_a_camera_is_large(make_window, qtbot):
    cam = sine_cam()
    win = make_window(make_config([cam], layout="2x2"))
    la = win.live_audio
    wait_for(lambda: win.runtime.supervisor.pipeline(cam.id) is not None, 10, what="the pipeline")
    qtbot.keyClick(win.wall, Qt.Key.Key_M)
    assert la.muted  # on the grid M does nothing
    win.wall.focus_camera(cam.id)
    qtbot.waitUntil(lambda: la.tap is not None and la.tap.has_audio, timeout=15000)
    win.activateWindow()
    qtbot.keyClick(win.wall, Qt.Key.Key_M)  # the key itself, through the window's shortcut
    assert not la.muted and "press M to mute" in la.strip.button.text()
    win.live_audio_action.trigger()  # M again
    assert la.muted and "press M to listen" in la.strip.button.text()
    qtbot.waitUntil(lambda: la.settled, timeout=10000)
    assert not la.player.playing  # muted: the output is closed (or was never found)
    win.wall.unfocus()
    win.wall.focus_camera(cam.id)
    assert la.muted  # each focus starts with the sound off


def test_the_strip_reads_on_a_1080p_and_a_4k_wall(make_window, qtbot, tmp_path):
    cam = sine_cam()
    win = make_window(make_config([cam], layout="2x2"), size=(1920, 1080))
    la = win.live_audio
    wait_for(lambda: win.runtime.supervisor.pipeline(cam.id) is not None, 10, what="the pipeline")
    win.wall.focus_camera(cam.id)
    qtbot.waitUntil(lambda: la.tap is not None and la.tap.samples_decoded > 0, timeout=15000)
    heights = {}
    for size in ((1920, 1080), (3840, 2160)):
        win.resize(*size)
        qtbot.waitUntil(lambda s=size: win.width() == s[0], timeout=5000)
        la.refresh()
        la.strip.place()
        font_px = la.strip.button.font().pixelSize()
        heights[size[1]] = font_px
        wall_h = win.wall.height()
        assert font_px >= wall_h // 32 - 1  # the wall's preferred title size: 20.5 mm on a 55" panel
        assert win.wall.focus_tile.rect().contains(la.strip.geometry())
        win.grab().save(str(tmp_path / f"live_audio_{size[0]}.png"))
    assert heights[2160] > 1.8 * heights[1080]  # 4K gets twice the pixels, the same millimetres


def test_the_level_meter_paints_the_level_zones(qtbot):
    m = LevelMeter()
    qtbot.addWidget(m)
    m.resize(300, 20)
    m.set_level(-3.0)
    img = m.grab().toImage()
    green, red = img.pixelColor(30, 10), img.pixelColor(278, 10)  # -60..-18 green; above -6 red
    assert green.green() > 150 and green.red() < 100
    assert red.red() > 200 and red.green() < 100
    m.set_level(None)
    assert m.grab().toImage().pixelColor(30, 10).green() < 60  # no sound: an empty bar
