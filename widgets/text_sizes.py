"""How big every text on a wall tile is, and the automatic interface size: pure rules, no Qt.

Readability from the operator's chair. A character is read reliably when its capital height subtends
about 16-20 minutes of arc (ISO 9241-303 and the control-room standard ISO 11064-4 give 16 arcmin as the
minimum, 20-22 preferred); the rule of thumb "1/200 of the viewing distance" is 17 arcmin. From 3 m that
is 14-17 mm of capital height. The tile's font is DejaVu Sans Bold here, whose capital height is 0.73 of
its pixel size (``QFontMetrics.capHeight``), so 15 mm needs a font of 20.5 mm.

The reference wall screen is a 55" 16:9 panel (picture 685 mm high): 0.315 mm/px at 3840x2160, 0.63 mm/px
at 1920x1080. A 20.5 mm font on it is 3 % of the screen's height whatever its resolution, so the preferred
title size is a fraction of the WALL's height (``PREFERRED_TITLE_OF_WALL``), not a number of pixels: a 4K
wall gets twice the pixels of a 1080p one (the text the issue found capped at 26 px on both). The tile
then bounds it by its own height:

* at most ``TITLE_MAX_OF_TILE`` (1/4) of the tile's height, so on an 8x8 wall the title bar leaves two
  thirds of the picture; this is where an 8x8 wall sits: 1/4 of a 4K tile (268 px in wall mode) is 67 px,
  a capital height of 49 px = 15.4 mm on the 55" panel, 17.6 arcmin from 3 m (with the menus and status
  bar shown at 200 % interface size the tile is ~253 px: 63 px, 14.5 mm, 16.6 arcmin);
* at least ``TITLE_MIN_OF_TILE`` (1/16) of the tile's height, so a single large tile's title grows with it;
* narrow tiles (narrower than 4:3: portrait page windows, a tall cell) are sized as a 4:3 tile of their
  width, so the name and the state badge still share one line;
* never below ``FLOOR_PX`` (12 px, a 9 px capital: 2.5 mm on a 24" 1920x1080 monitor at 0.277 mm/px,
  readable from 0.5 m) unless the tile is too small to hold it (then 45 % of its height, 6 px at least).

Every other text is a fixed share of the title, except the words of a down tile, which must fit in the
space under the title bar (three lines: stamp, activity, reason). The figures line (fps, bitrate) is the
least important text on a tile: it is shown only where the tile has room for it and still for a picture
(``FIGURES_ROOM``), so an 8x8 wall shows names, states and the down words, not figures.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFERRED_TITLE_OF_WALL = 1 / 32  # the title's pixel size as a share of the wall's height (20.5 mm on a 55")
TITLE_MAX_OF_TILE = 1 / 4
TITLE_MIN_OF_TILE = 1 / 16
FLOOR_PX = 12
NARROW_ASPECT = 4 / 3  # a tile narrower than this is sized as a 4:3 tile of its width
CAP_HEIGHT_OF_PX = 0.73  # DejaVu Sans Bold: capital height / pixel size (for the mm figures in docs and tests)
FIGURES_ROOM = 2.0  # the figures line shows when the picture keeps at least this many title heights


@dataclass(frozen=True)
class TextSizes:
    """Pixel sizes of the texts on one tile (fonts are pixel sizes; ``*_h`` are band or badge heights)."""

    title: int  # camera name, bold, in the title bar
    bar_h: int  # title bar
    badge: int  # state, K and REC badges' words
    badge_h: int
    condition: int  # condition chips under the title bar ("FROZEN")
    condition_h: int
    figures: int  # the bottom line (fps · bitrate · latency)
    figures_h: int
    show_figures: bool
    notice: int  # "recovered at 14:05:10 (down 3 min 12 s)"
    notice_h: int
    motion: int  # MOTION badge
    motion_h: int
    stamp: int  # a down tile's "OFFLINE since 21:53:13", bold
    activity: int  # "reconnecting: attempt 4 in 8 s", bold
    reason: int  # why, wrapped
    empty: int  # the word "empty" on an empty tile


def _at_least_floor(px: float, h: int) -> int:
    floor = min(FLOOR_PX, max(6.0, 0.45 * h))
    return int(max(floor, px))


def tile_text_sizes(w: int, h: int, wall_h: int = 0) -> TextSizes:
    """The sizes for a *w* x *h* tile on a wall *wall_h* pixels high (0: the tile is its own wall).

    >>> tile_text_sizes(478, 268, 2160).title   # 8x8 on a 4K wall, full screen
    67
    >>> tile_text_sizes(238, 133, 1080).title   # 8x8 on a 1080p wall
    33
    """
    w, h = max(1, int(w)), max(1, int(h))
    wall_h = int(wall_h) if wall_h > 0 else h
    sized_h = min(h, w / NARROW_ASPECT) if w < h * NARROW_ASPECT else h  # a narrow tile: as a 4:3 tile of its width
    preferred = wall_h * PREFERRED_TITLE_OF_WALL
    title = min(max(preferred, h * TITLE_MIN_OF_TILE), sized_h * TITLE_MAX_OF_TILE)
    title_px = _at_least_floor(title, h)
    bar_h = min(h, int(title_px * 1.3) + 2)
    # the state badge shares the title bar with the name: on a narrow tile it gives the name room
    badge_h = max(6, min(bar_h - 6, max(FLOOR_PX + 4, w // 9)))
    figures = _at_least_floor(title_px * 0.7, h)
    figures_h = int(figures * 1.35) + 2
    show_figures = h - bar_h - figures_h >= FIGURES_ROOM * title_px
    # a down tile: stamp, activity and a reason line must fit under the title bar
    free = max(1, h - bar_h - 8)
    stamp = _at_least_floor(min(title_px * 1.3, free * 0.30), h)
    activity = _at_least_floor(min(title_px * 1.0, free * 0.22), h)
    reason = _at_least_floor(min(title_px * 0.85, free * 0.18), h)
    condition = _at_least_floor(title_px * 0.7, h)
    notice = _at_least_floor(title_px * 0.8, h)
    motion = _at_least_floor(title_px * 0.7, h)
    return TextSizes(
        title=title_px,
        bar_h=bar_h,
        badge=_at_least_floor(badge_h * 0.6, h),
        badge_h=badge_h,
        condition=condition,
        condition_h=int(condition * 1.35) + 2,
        figures=figures,
        figures_h=figures_h,
        show_figures=show_figures,
        notice=notice,
        notice_h=int(notice * 1.4) + 2,
        motion=motion,
        motion_h=int(motion * 1.35) + 2,
        stamp=stamp,
        activity=activity,
        reason=reason,
        empty=_at_least_floor(h / 12, h),
    )


# ---------------------------------------------------------------------- interface size
UI_SCALE_CHOICES = (0, 100, 125, 150, 200, 250, 300)  # 0 = automatic (View ▸ Interface size)
BASE_UI_PX = 13  # the interface's text at 100 %: 13 px, Qt's 10 pt at 96 dpi
UI_SCALE_STEP = 25


def auto_ui_scale(logical_dpi: float, screen_height_px: int) -> int:
    """The automatic interface size, percent, for a screen.

    A desktop that already scales (logical dpi above 96, e.g. 144 = 150 %) is followed. A screen that
    reports 96 dpi but has many pixels (a 4K wall panel is usually left at 96 dpi) is scaled by its
    height against 1080 lines, so menus, docks and the status bar are as large on a 3840x2160 wall as
    on a 1920x1080 one: 2160 => 200 %. Rounded to 25 % steps, 100..300.
    """
    by_dpi = (logical_dpi or 96.0) / 96.0
    scale = by_dpi if by_dpi > 1.05 else max(1.0, screen_height_px / 1080.0)
    percent = round(scale * 100 / UI_SCALE_STEP) * UI_SCALE_STEP
    return int(min(300, max(100, percent)))


def ui_scale_words(percent: int) -> str:
    """The menu's words for a choice: "Automatic" or "150 %"."""
    return "Automatic (from the screen)" if percent == 0 else f"{percent} %"
