"""Digital zoom of one tile: a pure rule (no Qt), so every case is a plain unit test.

A :class:`Zoom` is a factor (1 = the whole picture fitted in the tile, at most 16) and the centre of the
view in *normalised picture coordinates* (0..1 across the picture, whatever its pixel size). Being
normalised, one zoom holds while the tile switches from the sub-stream's small frames to the main
stream's large ones: the operator keeps looking at the same spot.

The view's extent (the part of the picture shown, normalised) depends on the factor and on the
*relative aspect* of the view, ``(view_w / view_h) / (img_w / img_h)``: a tile as wide as the picture
(``1.0``, the usual 16:9 tile showing a 16:9 camera) shows ``1/f`` of each axis; in a wider view the
whole picture height fits at factor 1 and the width stays whole until the zoom crops it as well (the
picture is centred on that axis, like any image viewer, so it never shows anything outside the picture).

Clamping keeps the view inside the picture. Zooming *in* never needs it: with ``c' = p + (c - p) / step``
the view's edges move towards the pointer's picture point ``p``, so a view inside the picture stays
inside, and the point under the pointer stays exactly under it. Zooming *out* near an edge is clamped, so
there the point drifts (the alternative would be showing bands of nothing next to the picture).
"""

from __future__ import annotations

from dataclasses import dataclass

MIN_FACTOR = 1.0
MAX_FACTOR = 16.0
STEP = 2**0.5  # one wheel notch or one + / - key: 1, 1.4, 2, 2.8, 4, 5.7, 8, 11.3, 16 (8 steps to the maximum)
WHEEL_NOTCH = 120  # QWheelEvent.angleDelta() units per notch (a touchpad sends fractions of it)
SNAP = 1.01  # a factor this close to 1 is 1 (rounding after zoom in and back out must not leave "ZOOM 1.0x")
MAX_DEMAND_WIDTH = 4096  # the widest frame a zoomed tile asks the pipeline for (a 4K main stream, no wider)


@dataclass(frozen=True)
class Zoom:
    """A tile's zoom: *factor* (1..16) and the view's centre (*cx*, *cy*) in normalised picture coordinates."""

    factor: float = 1.0
    cx: float = 0.5
    cy: float = 0.5

    @property
    def zoomed(self) -> bool:
        return self.factor > MIN_FACTOR

    def label(self) -> str:
        """The tile's badge, e.g. ``ZOOM 2.8x`` with a multiplication sign (one decimal below 10, none above)."""
        f = self.factor
        text = f"{f:.1f}" if f < 10 else f"{f:.0f}"
        return f"ZOOM {text.removesuffix('.0')}\u00d7"


NO_ZOOM = Zoom()


def extent(zoom: Zoom, rel_aspect: float = 1.0) -> tuple[float, float]:
    """The part of the picture the view shows, normalised (1.0 = the whole axis)."""
    rel = rel_aspect if rel_aspect > 0 else 1.0
    k = max(1.0, 1.0 / rel)  # a view taller than the picture (rel < 1): the whole width fits at factor 1
    return (min(1.0, k * rel / zoom.factor), min(1.0, k / zoom.factor))


def clamp(zoom: Zoom, rel_aspect: float = 1.0) -> Zoom:
    """The factor into 1..16 and the centre so that the view never leaves the picture."""
    f = min(MAX_FACTOR, max(MIN_FACTOR, zoom.factor))
    if f < SNAP:
        return NO_ZOOM
    z = Zoom(f, zoom.cx, zoom.cy)
    ex, ey = extent(z, rel_aspect)
    return Zoom(f, _clamp_axis(z.cx, ex), _clamp_axis(z.cy, ey))


def _clamp_axis(c: float, ext: float) -> float:
    if ext >= 1.0:
        return 0.5  # the whole axis shows: centred
    half = ext / 2
    return min(1.0 - half, max(half, c))


def zoom_at(zoom: Zoom, factor_step: float, pointer_norm: tuple[float, float], rel_aspect: float = 1.0) -> Zoom:
    """Zoom by *factor_step* (>1 in, <1 out) around *pointer_norm*, the picture point under the pointer.

    On screen, a picture point ``p`` sits at ``(p - c) * f`` from the view's centre (in picture units
    times the fit scale); keeping it there at the new factor gives ``c' = p + (c - p) * f / f'``.
    """
    if factor_step <= 0:
        return zoom
    f2 = min(MAX_FACTOR, max(MIN_FACTOR, zoom.factor * factor_step))
    if f2 < SNAP:
        return NO_ZOOM
    ratio = zoom.factor / f2
    px, py = pointer_norm
    return clamp(Zoom(f2, px + (zoom.cx - px) * ratio, py + (zoom.cy - py) * ratio), rel_aspect)


def pan(zoom: Zoom, dx_norm: float, dy_norm: float, rel_aspect: float = 1.0) -> Zoom:
    """Move the picture by (*dx_norm*, *dy_norm*) picture widths/heights on screen (a drag to the right
    moves the picture right: the view's centre goes left), clamped to the picture."""
    if not zoom.zoomed:
        return zoom
    return clamp(Zoom(zoom.factor, zoom.cx - dx_norm, zoom.cy - dy_norm), rel_aspect)


def rel_aspect(view_w: float, view_h: float, img_w: float, img_h: float) -> float:
    """``(view_w / view_h) / (img_w / img_h)``; 1.0 when a size is unknown."""
    if view_w <= 0 or view_h <= 0 or img_w <= 0 or img_h <= 0:
        return 1.0
    return (view_w / view_h) / (img_w / img_h)


def source_rect(
    zoom: Zoom, img_w: int, img_h: int, view_w: int = 0, view_h: int = 0
) -> tuple[float, float, float, float]:
    """The part of an *img_w* x *img_h* picture the view shows, in picture pixels ``(x, y, w, h)``.

    Without a view size the view has the picture's aspect ratio (each axis shows ``1/factor``).
    """
    rel = rel_aspect(view_w, view_h, img_w, img_h)
    z = clamp(zoom, rel)
    ex, ey = extent(z, rel)
    w, h = ex * img_w, ey * img_h
    return (z.cx * img_w - w / 2, z.cy * img_h - h / 2, w, h)


def picture_point(src: tuple[float, float, float, float], target: tuple[float, float, float, float],
                  x: float, y: float, img_w: int, img_h: int) -> tuple[float, float]:  # fmt: skip
    """The normalised picture point drawn at view position (*x*, *y*), for a *src* rect (picture pixels)
    drawn at *target* (view pixels); clamped to the part shown (a pointer on a band means its edge)."""
    sx, sy, sw, sh = src
    tx, ty, tw, th = target
    if tw <= 0 or th <= 0 or img_w <= 0 or img_h <= 0:
        return (0.5, 0.5)
    fx = min(1.0, max(0.0, (x - tx) / tw))
    fy = min(1.0, max(0.0, (y - ty) / th))
    return ((sx + fx * sw) / img_w, (sy + fy * sh) / img_h)


def demand_size(width: int, height: int, zoom: Zoom, native: tuple[int, int] = (0, 0)) -> tuple[int, int]:
    """The frame size a tile of *width* x *height* asks the pipeline for at *zoom*.

    Tile size times the factor, so the crop shows real pixels instead of magnified tile pixels; at most
    ``MAX_DEMAND_WIDTH`` wide (both axes scaled alike) and, when the stream's own size (*native*) is known,
    no larger than it: scaling beyond the source adds no detail, only work (the pipeline's ``fit_size``
    would upscale up to 2x).
    """
    if width <= 0 or height <= 0:
        return (0, 0)
    k = min(zoom.factor, MAX_DEMAND_WIDTH / width) if zoom.zoomed else 1.0
    k = max(1.0, k)
    w, h = round(width * k), round(height * k)
    nw, nh = native
    if zoom.zoomed and nw > 0 and nh > 0:
        w, h = max(width, min(w, nw)), max(height, min(h, nh))
    return (w, h)
