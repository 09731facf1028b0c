"""The digital zoom's pure rule (widgets/zoom.py): zoom around the pointer, pan, clamping, source rects."""

from __future__ import annotations

import pytest

from widgets.zoom import (
    MAX_DEMAND_WIDTH,
    MAX_FACTOR,
    NO_ZOOM,
    STEP,
    Zoom,
    clamp,
    demand_size,
    extent,
    pan,
    picture_point,
    source_rect,
    zoom_at,
)


def screen_offset(z: Zoom, p: tuple[float, float]) -> tuple[float, float]:
    """Where picture point *p* is drawn, relative to the view's centre, in fitted-picture units."""
    return ((p[0] - z.cx) * z.factor, (p[1] - z.cy) * z.factor)


@pytest.mark.parametrize("point", [(0.5, 0.5), (0.3, 0.4), (0.05, 0.9), (1.0, 0.0), (0.77, 0.21)])
def test_zooming_in_keeps_the_point_under_the_pointer_exactly(point):
    z = NO_ZOOM
    before = screen_offset(z, point)
    for _ in range(6):  # 1 -> 8x, the point never moves on screen
        z = zoom_at(z, STEP, point)
        assert screen_offset(z, point) == pytest.approx(before, abs=1e-9)
    assert z.factor == pytest.approx(8.0)


def test_zooming_at_one_point_then_another_keeps_each_point_in_turn():
    z = zoom_at(NO_ZOOM, 2.0, (0.2, 0.2))
    q = (0.3, 0.25)  # a picture point visible in that view
    before = screen_offset(z, q)
    z2 = zoom_at(z, 2.0, q)
    assert screen_offset(z2, q) == pytest.approx(before)
    assert z2.factor == 4.0


def test_factor_is_bounded_and_zooming_back_out_snaps_to_the_whole_picture():
    z = NO_ZOOM
    for _ in range(20):
        z = zoom_at(z, STEP, (0.9, 0.1))
    assert z.factor == MAX_FACTOR
    for _ in range(20):
        z = zoom_at(z, 1 / STEP, (0.9, 0.1))
    assert z == NO_ZOOM and not z.zoomed
    assert zoom_at(NO_ZOOM, 0.5, (0.2, 0.2)) == NO_ZOOM  # out from the whole picture: nothing to do


def test_zooming_out_near_an_edge_is_clamped_so_the_view_never_leaves_the_picture():
    z = Zoom(4.0, 0.125, 0.875)  # the view touches the left and bottom edges
    out = zoom_at(z, 1 / 2, (0.9, 0.1))  # a far-away point: the unclamped centre would leave the picture
    ex, ey = extent(out)
    assert out.factor == 2.0
    assert out.cx - ex / 2 >= 0 and out.cx + ex / 2 <= 1
    assert out.cy - ey / 2 >= 0 and out.cy + ey / 2 <= 1


def test_pan_moves_the_picture_with_the_drag_and_stops_at_the_edges():
    z = Zoom(2.0, 0.5, 0.5)
    moved = pan(z, 0.1, -0.05)  # drag right and up: the view goes left and down in the picture
    assert (moved.cx, moved.cy) == pytest.approx((0.4, 0.55))
    far = pan(z, 5.0, 5.0)
    assert (far.cx, far.cy) == (0.25, 0.25)  # half the 0.5 extent from the top-left edge
    assert pan(NO_ZOOM, 0.3, 0.3) == NO_ZOOM  # the whole picture cannot pan


def test_source_rect_is_the_visible_part_in_picture_pixels():
    assert source_rect(NO_ZOOM, 1280, 720) == (0, 0, 1280, 720)
    assert source_rect(Zoom(2.0, 0.5, 0.5), 1280, 720) == pytest.approx((320, 180, 640, 360))
    assert source_rect(Zoom(4.0, 0.125, 0.125), 1280, 720) == pytest.approx((0, 0, 320, 180))
    # an out-of-range centre is clamped: the rect stays inside the picture
    x, y, w, _h = source_rect(Zoom(4.0, 0.99, 0.01), 1280, 720)
    assert (x + w, y) == pytest.approx((1280, 0))


def test_a_wider_view_shows_the_whole_height_then_crops_both_axes():
    # a 32:9 view on a 16:9 picture: relative aspect 2
    assert extent(NO_ZOOM, 2.0) == (1.0, 1.0)
    assert extent(Zoom(1.5), 2.0) == pytest.approx((1.0, 1 / 1.5))  # width still whole: centred, banded
    assert extent(Zoom(4.0), 2.0) == pytest.approx((0.5, 0.25))  # both cropped: the view is filled
    _x, _y, w, h = source_rect(Zoom(4.0, 0.5, 0.5), 1600, 900, 3200, 900)
    assert w / h == pytest.approx(3200 / 900)  # the crop has the view's shape: no bands
    assert clamp(Zoom(1.5, 0.1, 0.5), 2.0).cx == 0.5  # the whole width shows: centred


def test_a_taller_view_shows_the_whole_width_first():
    assert extent(Zoom(1.5), 0.5) == pytest.approx((1 / 1.5, 1.0))
    assert extent(Zoom(4.0), 0.5) == pytest.approx((0.25, 0.5))


def test_picture_point_maps_view_pixels_through_the_crop():
    src, target = (320.0, 180.0, 640.0, 360.0), (0.0, 0.0, 1280.0, 720.0)
    assert picture_point(src, target, 0, 0, 1280, 720) == pytest.approx((0.25, 0.25))
    assert picture_point(src, target, 640, 360, 1280, 720) == pytest.approx((0.5, 0.5))
    assert picture_point(src, (100.0, 0.0, 1080.0, 720.0), 0, 0, 1280, 720)[0] == 0.25  # on a band: the edge


def test_demand_grows_with_the_factor_capped_at_4096_wide_and_at_the_streams_own_size():
    assert demand_size(480, 270, NO_ZOOM) == (480, 270)
    assert demand_size(480, 270, Zoom(2.0)) == (960, 540)
    assert demand_size(1920, 1080, Zoom(8.0)) == (MAX_DEMAND_WIDTH, 2304)
    assert demand_size(480, 270, Zoom(8.0), native=(1280, 720)) == (1280, 720)
    assert demand_size(640, 360, Zoom(2.0), native=(320, 180)) == (640, 360)  # never below the tile
    assert demand_size(0, 0, Zoom(2.0)) == (0, 0)


def test_badge_words():
    assert Zoom(2.0).label() == "ZOOM 2\u00d7"
    assert Zoom(2.83).label() == "ZOOM 2.8\u00d7"
    assert Zoom(11.3).label() == "ZOOM 11\u00d7"
    assert not NO_ZOOM.zoomed and Zoom(1.5).zoomed
