"""Readable at any size: tile text follows the tile and the wall (``widgets/text_sizes.py``), and the interface
size (``wall.ui_scale``) scales the application font and the theme's paddings, at start and from the View menu."""

from __future__ import annotations

import pytest
from PySide6.QtGui import QFontInfo, QFontMetrics
from PySide6.QtWidgets import QLabel

from app.config import CameraConfig, WallConfig
from tests.widgets.conftest import make_config
from widgets.text_sizes import (
    FLOOR_PX,
    TITLE_MAX_OF_TILE,
    TITLE_MIN_OF_TILE,
    auto_ui_scale,
    tile_text_sizes,
)
from widgets.theme import apply_ui_scale, scaled_stylesheet

MM_PER_PX_55_4K = 0.315  # a 55" 3840x2160 panel
MIN_CAP_MM_3M = 14.0  # 16 arcmin from 3 m (ISO 9241-303 / ISO 11064-4 minimum); 1/200 of 3 m is 15 mm


# ---------------------------------------------------------------------- the pure rule
@pytest.mark.parametrize(
    ("w", "h", "wall_h"),
    [(478, 268, 2160), (238, 133, 1080), (958, 525, 2110), (3840, 2110, 2110), (1920, 1030, 1030), (425, 225, 680)],
)
def test_the_title_stays_between_a_sixteenth_and_a_quarter_of_the_tile(w, h, wall_h):
    s = tile_text_sizes(w, h, wall_h)
    assert h * TITLE_MIN_OF_TILE - 1 <= s.title <= h * TITLE_MAX_OF_TILE
    assert s.bar_h < h / 2  # the title bar never takes half the picture
    assert s.stamp <= (h - s.bar_h) * 0.3 + 1  # a down tile's words fit under the title bar
    assert min(s.figures, s.condition, s.notice, s.motion, s.reason, s.activity, s.badge) >= FLOOR_PX


def test_a_4k_wall_gets_twice_the_pixels_of_a_1080p_wall_for_the_same_layout():
    for cols, rows in ((8, 8), (4, 4), (2, 2), (1, 1)):
        hd = tile_text_sizes(1920 // cols - 2, 1080 // rows - 2, 1080)
        uhd = tile_text_sizes(3840 // cols - 2, 2160 // rows - 2, 2160)
        assert 1.8 <= uhd.title / hd.title <= 2.2, (cols, hd.title, uhd.title)


def test_an_8x8_title_on_a_55_inch_4k_wall_is_readable_from_3_m():
    s = tile_text_sizes(478, 268, 2160)  # wall mode: the whole screen
    cap_mm = s.title * 0.73 * MM_PER_PX_55_4K  # DejaVu Sans Bold capital height
    assert cap_mm >= 15.0
    assert not s.show_figures  # no room for the figures line: names, states and pictures first


def test_a_large_tile_grows_its_title_with_it_and_a_narrow_one_by_its_width():
    assert tile_text_sizes(3840, 2110, 2110).title >= 2110 / 16 - 1
    wide = tile_text_sizes(400, 300, 2160).title
    narrow = tile_text_sizes(200, 300, 2160).title  # portrait: sized as a 4:3 tile 200 wide
    assert narrow < wide and narrow == int(200 * 3 / 4 / 4)


def test_text_never_goes_below_the_floor_unless_the_tile_cannot_hold_it():
    assert tile_text_sizes(160, 90, 2160).title >= FLOOR_PX
    tiny = tile_text_sizes(16, 9, 1080)
    assert tiny.title <= max(6, 9 * 0.45)  # 45 % of its height (6 px at the least)


def test_automatic_interface_size_follows_dpi_or_a_4k_screen_height():
    assert auto_ui_scale(96, 2160) == 200
    assert auto_ui_scale(96, 1080) == 100
    assert auto_ui_scale(144, 1080) == 150
    assert auto_ui_scale(96, 1440) == 125
    assert auto_ui_scale(96, 4320) == 300  # 8K: capped


def test_the_stylesheet_paddings_scale_and_hairlines_survive():
    qss = "QStatusBar QLabel { padding: 0 8px; } QMenu { border: 1px solid #2a3038; }"
    out = scaled_stylesheet(qss, 200)
    assert "padding: 0 16px" in out and "border: 2px solid" in out
    assert "border: 1px solid" in scaled_stylesheet(qss, 125)  # 1.25 px rounds to 1: never 0


def test_interface_size_is_a_bounded_setting():
    assert WallConfig(ui_scale=250).ui_scale == 250
    for bad in (50, 301, -1):
        with pytest.raises(ValueError):
            WallConfig(ui_scale=bad)


# ---------------------------------------------------------------------- the real window
def _cams(n: int) -> list[CameraConfig]:
    # disabled cameras: their tiles show the title (and DISABLED) without a pipeline: cheap on a 2-core box
    return [CameraConfig(name=f"Gate {i}", url=f"demo://off{i}", enabled=False) for i in range(n)]


def _title_px(qtbot, win) -> tuple[int, int, int]:
    """(painted title pixel size, its capital height, tile height) of the first tile, after a real paint."""
    tile = win.wall.tiles[0]
    win.grab()  # paints every tile
    qtbot.waitUntil(lambda: tile.title_font is not None, timeout=5000)
    f = tile.title_font
    return f.pixelSize(), QFontMetrics(f).capHeight(), tile.height()


@pytest.fixture
def restore_app_look(qapp):
    font, qss = qapp.font(), qapp.styleSheet()
    yield
    qapp.setFont(font)
    qapp.setStyleSheet(qss)


def test_an_8x8_wall_title_doubles_from_1080p_to_2160p_and_is_readable_from_3m(qtbot, make_window, restore_app_look):
    win = make_window(make_config(_cams(10), "8x8"), size=(1920, 1080))
    px_hd, cap_hd, h_hd = _title_px(qtbot, win)
    win.resize(3840, 2160)
    qtbot.waitUntil(lambda: win.wall.tiles[0].height() > 1.8 * h_hd, timeout=5000)
    px_uhd, cap_uhd, h_uhd = _title_px(qtbot, win)
    assert px_hd >= FLOOR_PX and px_hd >= h_hd / 4 - 1  # an 8x8 tile: the title takes its largest share
    assert 1.8 <= px_uhd / px_hd <= 2.3
    assert cap_uhd * MM_PER_PX_55_4K >= MIN_CAP_MM_3M, (px_uhd, cap_uhd)
    print(f"8x8 title: 1080p {px_hd} px (cap {cap_hd}, tile {h_hd}); 2160p {px_uhd} px (cap {cap_uhd}, tile {h_uhd})")


def test_interface_size_from_the_view_menu_scales_status_bar_and_docks_and_is_saved(
    qtbot, make_window, qapp, restore_app_look
):
    win = make_window(make_config(_cams(2), "2x2"))
    win.ui_scaler = lambda percent: apply_ui_scale(qapp, percent)  # as run_gui does
    label = QLabel("2 open alarms, 1 unacknowledged")
    win.add_dock("Notes", label, "right")
    win.ui_scale_actions[100].trigger()
    qtbot.waitUntil(lambda: QFontInfo(win.live_label.font()).pixelSize() == 13, timeout=5000)
    win.ui_scale_actions[200].trigger()
    qtbot.waitUntil(lambda: QFontInfo(win.live_label.font()).pixelSize() == 26, timeout=5000)
    assert QFontInfo(label.font()).pixelSize() == 26
    assert QFontInfo(win.menuBar().font()).pixelSize() == 26
    assert "padding: 0 16px" in qapp.styleSheet()  # the status bar labels' padding follows
    assert win.runtime.config.wall.ui_scale == 200  # kept in the configuration
    assert win.ui_scale_actions[200].isChecked()
    win.ui_scale_actions[150].trigger()
    qtbot.waitUntil(lambda: QFontInfo(label.font()).pixelSize() == 20, timeout=5000)  # 13 x 1.5 = 19.5
    assert win.runtime.config.wall.ui_scale == 150


def test_automatic_interface_size_uses_the_screen(qapp, restore_app_look):
    screen = qapp.primaryScreen()
    expected = auto_ui_scale(screen.logicalDotsPerInch(), screen.geometry().height())
    assert apply_ui_scale(qapp, 0) == expected
    assert QFontInfo(qapp.font()).pixelSize() == round(13 * expected / 100)
