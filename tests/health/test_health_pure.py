"""Picture/audio health state machines with synthetic frames and levels: no threads, no PyAV streams."""

from __future__ import annotations

import av
import numpy as np

from app.config import ThresholdTemplate
from app.health.picture import AudioAnalyser, PictureAnalyser, Sustain, rms_dbfs, small_gray

TPL = ThresholdTemplate(freeze_threshold_ms=2000, black_threshold_ms=1000, min_fps=10, rate_hold_s=2,
                        min_bitrate_kbps=100, max_bitrate_kbps=5000, silence_threshold_ms=2000)  # fmt: skip
RNG = np.random.default_rng(1)


def moving(i: int) -> np.ndarray:
    img = np.full((54, 96), 120, np.uint8)
    img[:, (i * 7) % 90 : (i * 7) % 90 + 6] = 250  # a bar that moves every frame
    return img


def test_sustain_needs_continuous_hold():
    s = Sustain(1.0)
    assert not s.update(True, 0.0)
    assert not s.update(True, 0.9)
    assert s.update(True, 1.0)
    assert not s.update(False, 1.1)
    assert not s.update(True, 1.2)  # restarted


def test_frozen_after_threshold_and_clears_on_change():
    a = PictureAnalyser(TPL)
    still = moving(0)
    t = 0.0
    for _ in range(9):  # 1.6 s of identical frames at 5 fps
        assert "FROZEN" not in a.on_frame(still.copy(), t)
        t += 0.2
    for _ in range(3):
        conds = a.on_frame(still.copy(), t)
        t += 0.2
    assert "FROZEN" in conds
    assert "FROZEN" not in a.on_frame(moving(3), t)


def test_compression_noise_is_still_frozen_but_motion_is_not():
    a = PictureAnalyser(TPL)
    base = moving(0).astype(np.int16)
    t = 0.0
    for _ in range(15):
        noisy = np.clip(base + RNG.integers(-3, 4, base.shape), 0, 255).astype(np.uint8)
        conds = a.on_frame(noisy, t)
        t += 0.2
    assert "FROZEN" in conds
    b = PictureAnalyser(TPL)
    for i in range(15):
        conds = b.on_frame(moving(i), i * 0.2)
    assert "FROZEN" not in conds


def test_black_reported_instead_of_frozen():
    a = PictureAnalyser(TPL)
    black = np.full((54, 96), 4, np.uint8)
    for i in range(16):
        conds = a.on_frame(black, i * 0.2)
    assert conds == {"BLACK"}
    assert a.mean_luma == 4.0
    assert "BLACK" not in a.on_frame(moving(1), 3.4)


def test_timestamp_jump_and_backwards():
    a = PictureAnalyser(TPL)
    for i in range(5):
        assert "TIMESTAMP_JUMP" not in a.on_frame(moving(i), i * 0.2, pts_s=100 + i * 0.2)
    assert "TIMESTAMP_JUMP" in a.on_frame(moving(6), 1.2, pts_s=130.0)  # pts +29 s in 0.2 s
    assert a.timestamp_jumps_total == 1
    b = PictureAnalyser(TPL)
    b.on_frame(moving(0), 0.0, pts_s=50.0)
    assert "TIMESTAMP_JUMP" in b.on_frame(moving(1), 0.2, pts_s=10.0)  # went backwards
    # held for a while, then clears while timestamps are sane again
    for i in range(2, 70):
        conds = b.on_frame(moving(i), i * 0.2, pts_s=10.0 + (i - 1) * 0.2)
    assert "TIMESTAMP_JUMP" not in conds


def test_low_fps_and_bitrate_band_after_warmup():
    a = PictureAnalyser(TPL)
    assert a.on_rates(2.0, 50_000, live_for_s=1.0, t=1.0) == set()  # warm-up: not judged
    a.on_rates(2.0, 50_000, live_for_s=6.0, t=6.0)
    conds = a.on_rates(2.0, 50_000, live_for_s=8.5, t=8.5)
    assert {"LOW_FPS", "BITRATE_LOW"} <= conds
    conds = a.on_rates(15.0, 9_000_000, live_for_s=9.0, t=9.0)
    assert "LOW_FPS" not in conds and "BITRATE_LOW" not in conds and "BITRATE_HIGH" not in conds
    conds = a.on_rates(15.0, 9_000_000, live_for_s=11.5, t=11.5)
    assert "BITRATE_HIGH" in conds
    a.reset()
    assert a.active == set()


def test_audio_levels_silent_and_loudness():
    t = np.arange(48000) / 48000
    sine = (0.1 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32)
    assert abs(rms_dbfs(sine) - (-23.0)) < 0.2  # 0.1 amplitude sine = -23 dBFS
    assert rms_dbfs(np.zeros(100, np.int16)) == -120.0
    assert abs(rms_dbfs((sine * 32767).astype(np.int16)) + 23.0) < 0.2

    a = AudioAnalyser(TPL)
    for i in range(10):
        conds = a.on_level(-23.0, i * 0.5)
    assert conds == set() and abs(a.level_dbfs + 23) < 0.01
    for i in range(10, 16):
        conds = a.on_level(-90.0, i * 0.5)
    assert "SILENT" in conds
    b = AudioAnalyser(TPL)
    for i in range(60):  # -3 dBFS, 20 dB over the target with 10 dB tolerance, for 30 s
        conds = b.on_level(-3.0, i * 0.5)
    assert conds == {"LOUDNESS"}


def test_small_gray_from_a_real_video_frame():
    frame = av.VideoFrame.from_ndarray(np.full((360, 640, 3), 200, np.uint8), format="rgb24")
    g = small_gray(frame)
    assert g.dtype == np.uint8 and g.shape == (54, 96)
    assert 180 < g.mean() < 220
