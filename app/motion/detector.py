"""Frame-differencing motion detector on a downscaled grey picture. Pure: no Qt, no threads, no I/O.

Per frame: blur -> absdiff against a running background (``cv2.accumulateWeighted``) -> threshold ->
drop masked pixels / keep zone pixels -> dilate -> contours -> regions bigger than the minimum area.
A frame "moves" when the regions cover at least the minimum area. Motion *starts* after
``start_frames`` moving frames in a row and *ends* after ``end_hold_s`` without a moving frame, so a
flickering pixel or one noisy frame neither starts an event nor splits one event into many.

Coordinates handed in and out are normalised (0..1, x right, y down) so that masks drawn in the UI
at any tile size apply to any analysis size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

Polygon = list[tuple[float, float]] | tuple[tuple[float, float], ...]


@dataclass(frozen=True, slots=True)
class Region:
    """A moving area, normalised to the frame (0..1)."""

    x: float
    y: float
    w: float
    h: float
    area: float  # fraction of the frame covered by the contour

    def to_pixels(self, width: int, height: int) -> tuple[int, int, int, int]:
        return (round(self.x * width), round(self.y * height), round(self.w * width), round(self.h * height))


@dataclass(frozen=True, slots=True)
class MotionParams:
    """What the detector needs from ``MotionSettings`` (kept separate so the detector has no pydantic)."""

    sensitivity: float = 0.5
    min_area_percent: float = 0.5
    masks: tuple[tuple[tuple[float, float], ...], ...] = ()
    zones: tuple[tuple[tuple[float, float], ...], ...] = ()
    learning_rate: float = 0.1  # how fast the background follows the scene (per analysed frame)
    start_frames: int = 2  # consecutive moving frames before motion starts
    end_hold_s: float = 2.0  # no moving frame this long = motion ended

    @classmethod
    def from_settings(cls, s) -> MotionParams:
        """From an ``app.config.MotionSettings``."""
        return cls(
            sensitivity=s.sensitivity,
            min_area_percent=s.min_area_percent,
            masks=tuple(tuple((float(x), float(y)) for x, y in p) for p in s.masks),
            zones=tuple(tuple((float(x), float(y)) for x, y in p) for p in s.zones),
            start_frames=s.start_frames,
            end_hold_s=s.end_hold_s,
        )

    @property
    def pixel_threshold(self) -> int:
        """Grey-level difference that counts as change: sensitivity 1 -> 8, 0.5 -> 29, 0 -> 50."""
        return round(50 - 42 * min(max(self.sensitivity, 0.0), 1.0))


@dataclass(frozen=True, slots=True)
class MotionUpdate:
    """Result of one analysed frame."""

    t: float
    moving: bool  # this frame has enough changed area
    active: bool  # the debounced motion state (an event is in progress)
    started: bool = False  # this frame started an event
    ended: bool = False  # this frame ended an event
    score: float = 0.0  # fraction of the (allowed) frame that changed
    regions: tuple[Region, ...] = ()


@dataclass
class MotionDetector:
    """One camera's detector. Feed it grey uint8 frames (H x W) with a time in seconds."""

    params: MotionParams = field(default_factory=MotionParams)
    _background: np.ndarray | None = field(default=None, init=False, repr=False)
    _mask: np.ndarray | None = field(default=None, init=False, repr=False)  # 255 = counts, 0 = ignored
    _allowed_px: int = field(default=0, init=False, repr=False)
    _shape: tuple[int, int] | None = field(default=None, init=False, repr=False)
    _run: int = field(default=0, init=False, repr=False)
    _active: bool = field(default=False, init=False, repr=False)
    _last_moving_t: float = field(default=0.0, init=False, repr=False)

    @property
    def active(self) -> bool:
        return self._active

    def set_params(self, params: MotionParams) -> None:
        self.params = params
        self._shape = None  # rebuild the mask on the next frame

    def reset(self) -> None:
        """Forget the background (new connection, camera moved)."""
        self._background = None
        self._run = 0

    def process(self, gray: np.ndarray, t: float) -> MotionUpdate:
        if gray.ndim != 2 or gray.dtype != np.uint8:
            raise ValueError(f"expected a grey uint8 H x W array, got {gray.dtype} {gray.shape}")
        h, w = gray.shape
        if self._shape != (h, w):
            self._build_mask(w, h)
            self._background = None
        blurred = cv2.GaussianBlur(gray, (5, 5), 0)
        if self._background is None:
            self._background = blurred.astype(np.float32)
            return self._debounce(t, False, 0.0, ())
        diff = cv2.absdiff(blurred, cv2.convertScaleAbs(self._background))
        cv2.accumulateWeighted(blurred, self._background, self.params.learning_rate)
        _, binary = cv2.threshold(diff, self.params.pixel_threshold, 255, cv2.THRESH_BINARY)
        if self._mask is not None:
            binary = cv2.bitwise_and(binary, self._mask)
        binary = cv2.dilate(binary, None, iterations=2)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        frame_px = float(w * h)
        min_px = self.params.min_area_percent / 100.0 * frame_px
        regions = []
        moving_px = 0.0
        for c in contours:
            a = cv2.contourArea(c)
            if a < min_px or a <= 0:
                continue
            x, y, bw, bh = cv2.boundingRect(c)
            regions.append(Region(x / w, y / h, bw / w, bh / h, a / frame_px))
            moving_px += a
        regions.sort(key=lambda r: r.area, reverse=True)
        allowed = float(self._allowed_px or frame_px)
        score = min(1.0, moving_px / allowed)
        moving = bool(regions) and moving_px >= max(min_px, 1.0)
        return self._debounce(t, moving, score, tuple(regions))

    # -------------------------------------------------------------- internals

    def _debounce(self, t: float, moving: bool, score: float, regions: tuple[Region, ...]) -> MotionUpdate:
        started = ended = False
        if moving:
            self._run += 1
            self._last_moving_t = t
            if not self._active and self._run >= self.params.start_frames:
                self._active = started = True
        else:
            self._run = 0
            if self._active and t - self._last_moving_t >= self.params.end_hold_s:
                self._active = False
                ended = True
        return MotionUpdate(t, moving, self._active, started, ended, score, regions)

    def _build_mask(self, w: int, h: int) -> None:
        self._shape = (h, w)
        p = self.params
        if not p.masks and not p.zones:
            self._mask = None
            self._allowed_px = w * h
            return
        mask = np.zeros((h, w), np.uint8) if p.zones else np.full((h, w), 255, np.uint8)
        for zone in p.zones:
            cv2.fillPoly(mask, [_to_px(zone, w, h)], 255)
        for m in p.masks:
            cv2.fillPoly(mask, [_to_px(m, w, h)], 0)
        self._mask = mask
        self._allowed_px = int(cv2.countNonZero(mask))


def _to_px(poly, w: int, h: int) -> np.ndarray:
    pts = np.array([[round(min(max(x, 0.0), 1.0) * w), round(min(max(y, 0.0), 1.0) * h)] for x, y in poly], np.int32)
    return pts.reshape(-1, 1, 2)


def analysis_size(src_w: int, src_h: int, width: int = 320) -> tuple[int, int]:
    """Analysis picture size: *width* wide (never wider than the source), even, source aspect ratio."""
    if src_w <= 0 or src_h <= 0:
        return (0, 0)
    w = min(width, src_w)
    h = max(2, round(src_h * w / src_w) & ~1)
    return (max(2, w & ~1), h)
