"""Pure detector tests on synthetic grey frames: no threads, no Qt."""

from __future__ import annotations

import numpy as np
import pytest

from app.motion.detector import MotionDetector, MotionParams, analysis_size

W, H = 320, 180


def scene(box_x: int | None = None, box_y: int = 70, noise: np.random.Generator | None = None) -> np.ndarray:
    img = np.full((H, W), 90, np.uint8)
    img[:, ::40] = 60  # some static texture
    if box_x is not None:
        img[box_y : box_y + 40, box_x : box_x + 40] = 230
    if noise is not None:
        img = np.clip(img.astype(np.int16) + noise.integers(-6, 7, img.shape), 0, 255).astype(np.uint8)
    return img


def run(det: MotionDetector, frames, dt=0.25):
    return [det.process(f, i * dt) for i, f in enumerate(frames)]


def test_static_scene_with_sensor_noise_never_starts_motion():
    rng = np.random.default_rng(1)
    ups = run(MotionDetector(MotionParams(sensitivity=0.7)), [scene(noise=rng) for _ in range(40)])
    assert not any(u.active or u.started for u in ups)


def test_moving_box_starts_then_ends_after_hold_with_region_where_the_box_is():
    det = MotionDetector(MotionParams(sensitivity=0.5, end_hold_s=1.0))
    frames = (
        [scene() for _ in range(5)] + [scene(20 + 12 * i) for i in range(10)] + [scene(140)] * 30
    )  # a stopped object fades into the background
    ups = run(det, frames)
    starts = [i for i, u in enumerate(ups) if u.started]
    ends = [i for i, u in enumerate(ups) if u.ended]
    assert len(starts) == 1 and len(ends) == 1  # one event: no flapping
    assert 5 < starts[0] <= 8
    assert ends[0] > starts[0]
    assert not ups[-1].active
    moving = ups[starts[0]]
    r = moving.regions[0]
    # the box is around y=70..110 of 180: the region must overlap that band and the left half
    assert r.y < 110 / H and r.y + r.h > 70 / H
    assert r.x < 0.5


def test_single_noisy_frame_does_not_start_an_event():
    det = MotionDetector(MotionParams(start_frames=2))
    frames = [scene()] * 5 + [scene(100)] + [scene()] * 5
    ups = run(det, frames)
    assert any(u.moving for u in ups)
    assert not any(u.started for u in ups)


def test_masked_area_is_ignored_and_unmasked_area_is_not():
    mask = ((0.0, 0.0), (0.5, 0.0), (0.5, 1.0), (0.0, 1.0))  # left half ignored
    frames_left = [scene()] * 4 + [scene(10 + 8 * i) for i in range(10)]  # box stays in x < 130
    ups = run(MotionDetector(MotionParams(masks=(mask,))), frames_left)
    assert not any(u.moving for u in ups)
    frames_right = [scene()] * 4 + [scene(180 + 8 * i) for i in range(10)]
    ups = run(MotionDetector(MotionParams(masks=(mask,))), frames_right)
    assert any(u.started for u in ups)


def test_zone_limits_detection_to_the_zone():
    zone = ((0.6, 0.0), (1.0, 0.0), (1.0, 1.0), (0.6, 1.0))
    frames = [scene()] * 4 + [scene(10 + 8 * i) for i in range(10)]
    assert not any(u.moving for u in run(MotionDetector(MotionParams(zones=(zone,))), frames))
    assert any(u.moving for u in run(MotionDetector(MotionParams()), frames))


def test_min_area_filters_small_objects():
    small = [scene()] * 4
    for i in range(10):
        f = scene()
        f[80:84, 20 + 10 * i : 24 + 10 * i] = 250  # 4x4 px object
        small.append(f)
    assert not any(u.moving for u in run(MotionDetector(MotionParams(min_area_percent=2.0)), small))


def test_sensitivity_changes_what_counts_as_change():
    faint = [scene()] * 4
    for i in range(10):
        f = scene()
        f[60:120, 20 + 15 * i : 80 + 15 * i] = 112  # +22 grey levels: faint
        faint.append(f)
    assert not any(u.moving for u in run(MotionDetector(MotionParams(sensitivity=0.0)), faint))
    assert any(u.started for u in run(MotionDetector(MotionParams(sensitivity=1.0)), faint))


def test_bad_input_is_a_clear_error():
    with pytest.raises(ValueError, match="grey uint8"):
        MotionDetector().process(np.zeros((10, 10, 3), np.uint8), 0.0)


def test_analysis_size_keeps_aspect_and_even():
    assert analysis_size(1920, 1080, 320) == (320, 180)
    assert analysis_size(160, 120, 320) == (160, 120)
    assert analysis_size(0, 0) == (0, 0)
