"""A dead camera never looks live: a tile whose camera lost its pictures (stalled, offline, or reconnecting)
paints its last picture grey, never in colour, under a stamp dated from the last picture that no retry
moves, with what Vigil is doing; when pictures come back it says so for a minute."""

from __future__ import annotations

import re
import time

import numpy as np
from PySide6.QtCore import QRect

from app.pipeline.frames import Frame
from app.pipeline.state import HealthSnapshot, StreamState
from widgets.overlay_text import RECOVERED_NOTICE_S, clock, down_words, duration, overlay_text, recovered_words
from widgets.tile import TileWidget

SIZE = (480, 262)  # one tile of a 4x4 wall on a 1920x1080 monitor
DOWN_SINCE = time.mktime((2026, 12, 1, 21, 53, 13, 0, 0, -1))


def colour_frame(w: int, h: int) -> Frame:
    """Four saturated quadrants (BGRA): red, green, blue, yellow; each has its own luma, so greyed they differ."""
    img = np.zeros((h, w, 4), np.uint8)
    img[:, :, 3] = 255
    img[: h // 2, : w // 2, 2] = 255  # red
    img[: h // 2, w // 2 :, 1] = 255  # green
    img[h // 2 :, : w // 2, 0] = 255  # blue
    img[h // 2 :, w // 2 :, 1:3] = 255  # yellow
    return Frame(seq=1, image=img, source_width=w, source_height=h, ready_at=time.monotonic())


def snap(state: StreamState, **kw) -> HealthSnapshot:
    return HealthSnapshot(camera_id="gate", name="Gate", group="Depot", state=state, width=SIZE[0], height=SIZE[1],
                          codec="H.264", **kw)  # fmt: skip


def live(**kw) -> HealthSnapshot:
    return snap(StreamState.LIVE, state_since=time.time(), reason="receiving pictures", fps_received=15.0, **kw)


def reconnecting() -> HealthSnapshot:
    """CONNECTING after a loss: attempt 4 under way; the state began just now, the outage at 21:53:13."""
    return snap(StreamState.CONNECTING, state_since=time.time(), reason="reconnecting (attempt 4)",
                down_since=DOWN_SINCE, reconnect_attempt=4, last_error="timed out connecting: no answer in 2 s",
                last_error_at=time.time() - 1)  # fmt: skip


def offline_waiting() -> HealthSnapshot:
    """Attempt 4 failed; attempt 5 comes in about 8 s."""
    return snap(StreamState.OFFLINE, state_since=time.time(), reason="timed out connecting: no answer in 2 s",
                down_since=DOWN_SINCE, reconnect_attempt=5, next_attempt_at=time.time() + 8.4,
                last_error="timed out connecting: no answer in 2 s", last_error_at=time.time())  # fmt: skip


def make_tile(qtbot) -> TileWidget:
    tile = TileWidget(0)
    qtbot.addWidget(tile)
    tile.resize(*SIZE)
    tile.set_camera("gate", "Gate", "Depot")
    tile.set_snapshot(live())
    tile.set_frame(colour_frame(*SIZE))
    return tile


def picture_pixels(tile: TileWidget, step: int = 3) -> list[tuple[int, int, int]]:
    """(r, g, b) of every step-th pixel of the grabbed tile outside the overlay's words and badges."""
    img = tile.grab().toImage()
    words = list(tile._word_rects)
    assert words, "the overlay recorded no words: nothing to tell the picture from"
    out = []
    for y in range(2, img.height() - 2, step):
        for x in range(2, img.width() - 2, step):
            if not any(r.contains(x, y) for r in words):
                c = img.pixelColor(x, y)
                out.append((c.red(), c.green(), c.blue()))
    return out


def coloured(px: tuple[int, int, int], tol: int = 10) -> bool:
    r, g, b = px
    return abs(r - g) > tol or abs(g - b) > tol


def pixels_in(tile: TileWidget, rect: QRect) -> list[tuple[int, int, int]]:
    img = tile.grab().toImage()
    return [(c.red(), c.green(), c.blue()) for y in range(rect.top(), rect.bottom(), 2)
            for x in range(rect.left(), rect.right(), 2) for c in [img.pixelColor(x, y)]]  # fmt: skip


def stamp_band(tile: TileWidget) -> QRect:
    """The widest word rect below the title bar: the down tile's stamp band."""
    below = [r for r in tile._word_rects if r.top() > 0 and r.width() == tile.width()]
    assert below, tile._word_rects
    return max(below, key=lambda r: r.height())


def test_a_reconnecting_and_an_offline_tile_paint_no_colour_and_keep_the_time_of_the_last_picture(qtbot):
    tile = make_tile(qtbot)
    live_px = picture_pixels(tile)
    assert sum(coloured(p) for p in live_px) > len(live_px) // 2, "the live picture is in colour (the probe works)"

    for down in (reconnecting(), offline_waiting()):
        tile.set_snapshot(down)
        o = tile.overlay()
        assert o.down, down.state
        assert o.stamp == f"OFFLINE since {clock(DOWN_SINCE)}" == "OFFLINE since 21:53:13"  # not state_since
        px = picture_pixels(tile)
        colour = [p for p in px if coloured(p)]
        assert not colour, f"{down.state}: {len(colour)} colour pixels, e.g. {colour[:5]}"
        # the picture is still there, greyed: its four quadrants give different greys, brighter than the background
        greys = {round(sum(p) / 3 / 4) for p in px}
        assert len(greys) >= 3, greys
        # the stamp is painted in OFFLINE's red (not the CONNECTING badge's blue), the activity line in white
        band = pixels_in(tile, stamp_band(tile))
        assert any(r > 200 and g < 120 and b < 120 for r, g, b in band), "no red stamp text in the band"
        assert any(min(p) > 200 for p in band), "no white activity text in the band"

    tile.set_snapshot(reconnecting())
    assert tile.overlay().activity == "reconnecting: attempt 4 now"
    assert tile.overlay().reason == "timed out connecting: no answer in 2 s"  # why it is down, not "reconnecting"
    tile.set_snapshot(offline_waiting())
    m = re.fullmatch(r"reconnecting: attempt 5 in (\d+) s", tile.overlay().activity)
    assert m and 1 <= int(m.group(1)) <= 9, tile.overlay().activity


def test_a_stalled_tile_is_grey_and_says_it_is_still_connected(qtbot):
    tile = make_tile(qtbot)
    tile.set_snapshot(snap(StreamState.STALLED, state_since=time.time(), down_since=DOWN_SINCE,
                           reason="connected, but no picture for 3 s"))  # fmt: skip
    assert tile.overlay().stamp == "STALLED since 21:53:13"
    assert tile.overlay().activity == "still connected: waiting for pictures"
    assert not [p for p in picture_pixels(tile) if coloured(p)]


def test_recovery_brings_the_colour_back_and_says_when_and_how_long_it_was_down(qtbot):
    tile = make_tile(qtbot)
    tile.set_snapshot(offline_waiting())
    back = time.time() - 5
    tile.set_snapshot(live(recovered_at=back, last_outage_s=192.4))
    o = tile.overlay()
    assert not o.down and o.reason == f"recovered at {clock(back)} (down 3 min 12 s)"
    px = picture_pixels(tile)
    assert sum(coloured(p) for p in px) > len(px) // 2, "the picture is in colour again"
    notice = [r for r in tile._word_rects if r.top() > 0 and r.width() == tile.width() and r.bottom() < SIZE[1] - 1]
    assert notice, "no recovered line above the figures"
    assert any(g > 180 and r < 150 and b < 180 for r, g, b in pixels_in(tile, notice[0])), "no green notice text"
    # a minute later the line is gone
    tile.set_snapshot(live(recovered_at=time.time() - RECOVERED_NOTICE_S - 1, last_outage_s=192.4))
    assert tile.overlay().reason == ""


# ---------------------------------------------------------------------------- the words (pure)


def test_down_words_count_down_to_the_next_attempt():
    now = 1_000_000.0
    s = snap(StreamState.OFFLINE, down_since=DOWN_SINCE, reconnect_attempt=5, next_attempt_at=now + 7.2,
             reason="hung: connected, but no data for 8 s")  # fmt: skip
    stamp, color, activity, reason = down_words(s, now)
    assert (stamp, activity, reason) == ("OFFLINE since 21:53:13", "reconnecting: attempt 5 in 8 s",
                                         "hung: connected, but no data for 8 s")  # fmt: skip
    assert down_words(s, now + 7.5)[2] == "reconnecting: attempt 5 now"
    assert color == "#ff5a5a"  # OFFLINE's stamp red
    # a snapshot without outage fields (an older producer) is stamped from its state's start, as before
    assert overlay_text(snap(StreamState.ERROR, state_since=DOWN_SINCE, reason="x")).stamp == "ERROR since 21:53:13"


def test_recovered_words_and_durations():
    s = snap(StreamState.LIVE, recovered_at=DOWN_SINCE + 3600, last_outage_s=3725)
    assert recovered_words(s, DOWN_SINCE + 3610) == f"recovered at {clock(DOWN_SINCE + 3600)} (down 1 h 2 min)"
    assert recovered_words(s, DOWN_SINCE + 3600 + RECOVERED_NOTICE_S) == ""
    assert [duration(x) for x in (0.4, 45, 60, 192.4, 3600, 7500)] == ["0 s", "45 s", "1 min", "3 min 12 s", "1 h",
                                                                        "2 h 5 min"]  # fmt: skip
