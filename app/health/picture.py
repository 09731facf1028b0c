"""Picture and audio health: FROZEN, BLACK, LOW_FPS, BITRATE_LOW/HIGH, TIMESTAMP_JUMP, SILENT, LOUDNESS.

Pure part - :class:`PictureAnalyser` and :class:`AudioAnalyser` are state machines fed with numbers
and small numpy arrays plus a monotonic time; no threads, no PyAV, tested with synthetic frames.
Every condition must hold continuously for its threshold (from the camera's template) before it is
reported, and clears as soon as it stops holding.

Adapter part - :class:`HealthMonitor` attaches to every tile pipeline (``supervisor.add_pipeline_hook``):

* a frame sink (decode thread, at most ``ANALYSIS_FPS`` a second) that reformats the decoded frame
  to a small grey image inside FFmpeg (``reformat(width=96, format="gray")`` - no Python pixel loops)
  and feeds the picture analyser and the rate rules (fps/bitrate from the pipeline's snapshot);
* a packet sink (demux thread) that decodes the audio stream's packets (cheap: AAC/PCM/Opus) into an
  RMS level in dBFS over 0.5 s windows;
* a state listener that resets both analysers when the stream leaves LIVE (a reconnect starts over);
* ``set_external(camera_id, source, conditions)`` for probe findings (HLS_* from the HLS probe), merged
  with the picture/audio conditions; ``on_probe_results`` is the probe scheduler's listener that routes
  camera-scoped results there.
* NETWORK_DOWN is judged, not copied: the stream's own connection (every state change) joined with the
  network probe's finding about the host (``app/health/reachability.py``); ``CameraHealth.reachability``
  holds the verdict.

All of it is published with ``pipeline.set_conditions(...)``: the adapter is the only writer of a
pipeline's conditions, so the sources never overwrite each other.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from typing import TYPE_CHECKING

import numpy as np

from app.config import ThresholdTemplate, stream_endpoint
from app.health.reachability import Reachability, host_answers, judge, stream_answer
from app.pipeline.state import Condition, StreamState
from probes.network import KIND as NETWORK_KIND

if TYPE_CHECKING:
    import av

    from app.config import CameraConfig
    from app.pipeline.pipeline import CameraPipeline
    from app.pipeline.supervisor import Supervisor
    from probes.base import ProbeResult

log = logging.getLogger(__name__)

ANALYSIS_FPS = 5.0
# probe result kind -> condition source name in the camera's merged conditions (network results are judged
# with the stream's connection instead: CameraHealth.on_network_probe)
CAMERA_PROBE_SOURCES = {"hls": "hls", "hls_rendition": "hls"}
NETWORK_SOURCE = "network"
ANALYSIS_WIDTH = 96
WARMUP_S = 5.0  # rate meters need a few seconds after LIVE before fps/bitrate mean anything
TIMESTAMP_HOLD_S = 10.0  # a timestamp jump is shown this long after it happened
LOUDNESS_HOLD_S = 10.0


class Sustain:
    """True once *active* has held continuously for *hold_s* seconds; false as soon as it stops."""

    __slots__ = ("hold_s", "since")

    def __init__(self, hold_s: float) -> None:
        self.hold_s = hold_s
        self.since: float | None = None

    def update(self, active: bool, t: float, start: float | None = None) -> bool:
        """*start*: when the condition began if known earlier than *t* (e.g. the first of two equal frames)."""
        if not active:
            self.since = None
            return False
        if self.since is None:
            self.since = t if start is None else min(start, t)
        return t - self.since >= self.hold_s

    def reset(self) -> None:
        self.since = None


class PictureAnalyser:
    """Pure picture/rate state machine for one stream."""

    def __init__(self, template: ThresholdTemplate) -> None:
        self.template = template
        self._frozen = Sustain(template.freeze_threshold_ms / 1000)
        self._black = Sustain(template.black_threshold_ms / 1000)
        self._low_fps = Sustain(template.rate_hold_s)
        self._br_low = Sustain(template.rate_hold_s)
        self._br_high = Sustain(template.rate_hold_s)
        self._prev: np.ndarray | None = None
        self._prev_t: float | None = None
        self._prev_pts: tuple[float, float] | None = None  # (pts seconds, monotonic t)
        self._jump_at: float | None = None
        self.mean_luma: float | None = None
        self.last_change: float = 0.0  # largest grey-level change vs the previous analysed frame
        self.timestamp_jumps_total = 0
        self.active: set[str] = set()

    def reset(self) -> None:
        for s in (self._frozen, self._black, self._low_fps, self._br_low, self._br_high):
            s.reset()
        self._prev = None
        self._prev_t = None
        self._prev_pts = None
        self._jump_at = None
        self.mean_luma = None
        self.active = set()

    def on_frame(self, gray: np.ndarray, t: float, pts_s: float | None = None) -> set[str]:
        """Feed one small grey frame (uint8 2-D). Returns the picture conditions now active."""
        tpl = self.template
        self.mean_luma = float(gray.mean())
        if self._prev is not None and self._prev.shape == gray.shape:
            # max abs difference: a clock overlay or any motion moves it far above the threshold,
            # while a frozen decoder output or a repeated frame gives 0 (compression noise: a few levels)
            diff = np.abs(gray.astype(np.int16) - self._prev.astype(np.int16))
            self.last_change = float(diff.max())
            frozen = self.last_change <= tpl.freeze_pixel_delta
        else:
            frozen = False
        prev_t, self._prev, self._prev_t = self._prev_t, gray, t
        is_frozen = self._frozen.update(frozen, t, start=prev_t)  # unchanged since the previous frame came
        is_black = self._black.update(self.mean_luma < tpl.black_luma, t)
        if pts_s is not None:
            if self._prev_pts is not None:
                dp, dt = pts_s - self._prev_pts[0], t - self._prev_pts[1]
                if dp < -0.5 or abs(dp - dt) > tpl.timestamp_jump_s:
                    self._jump_at = t
                    self.timestamp_jumps_total += 1
            self._prev_pts = (pts_s, t)
        jump = self._jump_at is not None and t - self._jump_at < TIMESTAMP_HOLD_S
        self._set(Condition.FROZEN, is_frozen and not is_black)  # black and unchanged: BLACK says more
        self._set(Condition.BLACK, is_black)
        self._set(Condition.TIMESTAMP_JUMP, jump)
        return set(self.active)

    def on_rates(self, fps: float, bitrate_bps: float, live_for_s: float, t: float) -> set[str]:
        """Feed the snapshot's received fps and bitrate. Only judged after WARMUP_S of LIVE."""
        tpl = self.template
        warm = live_for_s >= WARMUP_S
        self._set(Condition.LOW_FPS, self._low_fps.update(warm and tpl.min_fps > 0 and fps < tpl.min_fps, t))
        kbps = bitrate_bps / 1000
        low = warm and tpl.min_bitrate_kbps > 0 and kbps < tpl.min_bitrate_kbps
        high = warm and tpl.max_bitrate_kbps > 0 and kbps > tpl.max_bitrate_kbps
        self._set(Condition.BITRATE_LOW, self._br_low.update(low, t))
        self._set(Condition.BITRATE_HIGH, self._br_high.update(high, t))
        return set(self.active)

    def _set(self, cond: str, on: bool) -> None:
        if on:
            self.active.add(str(cond))
        else:
            self.active.discard(str(cond))


def samples_to_float(a: np.ndarray) -> np.ndarray:
    """PCM samples of any PyAV sample format as float in [-1, 1]."""
    if a.dtype == np.int16:
        return a.astype(np.float32) / 32768.0
    if a.dtype == np.int32:
        return a.astype(np.float32) / 2147483648.0
    if a.dtype == np.uint8:
        return (a.astype(np.float32) - 128.0) / 128.0
    return a.astype(np.float32, copy=False)


def rms_dbfs(samples: np.ndarray) -> float:
    """RMS level in dBFS (full-scale square wave = 0, full-scale sine = -3); silence floors at -120."""
    x = samples_to_float(samples)
    if x.size == 0:
        return -120.0
    ms = float(np.mean(np.square(x, dtype=np.float64)))
    return max(-120.0, 10 * math.log10(ms)) if ms > 0 else -120.0


class AudioAnalyser:
    """Pure audio-level state machine: SILENT and LOUDNESS (smoothed level vs target ± tolerance)."""

    def __init__(self, template: ThresholdTemplate, tau_s: float = 3.0) -> None:
        self.template = template
        self.tau_s = tau_s
        self._silent = Sustain(template.silence_threshold_ms / 1000)
        self._loud = Sustain(LOUDNESS_HOLD_S)
        self.level_dbfs: float | None = None  # smoothed
        self._last_t: float | None = None
        self.active: set[str] = set()

    def reset(self) -> None:
        self._silent.reset()
        self._loud.reset()
        self.level_dbfs = None
        self._last_t = None
        self.active = set()

    def on_level(self, level_dbfs: float, t: float) -> set[str]:
        tpl = self.template
        if self.level_dbfs is None or self._last_t is None:
            self.level_dbfs = level_dbfs
        else:
            a = 1 - math.exp(-max(0.0, t - self._last_t) / self.tau_s)
            self.level_dbfs += a * (level_dbfs - self.level_dbfs)
        self._last_t = t
        silent = self._silent.update(level_dbfs < tpl.silence_dbfs, t)
        off = abs(self.level_dbfs - tpl.loudness_target) > tpl.loudness_tolerance
        loud = self._loud.update(off and level_dbfs >= tpl.silence_dbfs, t)
        self.active = ({str(Condition.SILENT)} if silent else set()) | ({str(Condition.LOUDNESS)} if loud else set())
        return set(self.active)


# ------------------------------------------------------------------------------------ adapter


def small_gray(frame: av.VideoFrame, width: int = ANALYSIS_WIDTH) -> np.ndarray:
    """Downscale + grey inside FFmpeg (swscale); returns a (h, w) uint8 array."""
    w = min(width, frame.width) or width
    h = max(2, round(w * frame.height / max(1, frame.width) / 2) * 2)
    return frame.reformat(width=w, height=h, format="gray").to_ndarray()


class _AudioLevelSink:
    """Packet sink: decodes the audio stream on the demux thread, level per 0.5 s window."""

    WINDOW_S = 0.5

    def __init__(self, owner: CameraHealth) -> None:
        self.owner = owner
        self._astream = None
        self._index = -1
        self._sumsq = 0.0
        self._n = 0
        self._window_start = 0.0
        self._failures = 0

    def on_open(self, container) -> None:
        audio = container.streams.audio
        self._astream = audio[0] if audio else None
        self._index = self._astream.index if self._astream is not None else -1
        self._sumsq, self._n, self._window_start, self._failures = 0.0, 0, time.monotonic(), 0

    def on_packet(self, packet) -> None:
        if packet.stream_index != self._index or self._astream is None or self._failures > 20:
            return
        try:
            frames = self._astream.codec_context.decode(packet)
        except Exception:  # corrupt packet or unsupported codec: stop after a few, never break the demux
            self._failures += 1
            return
        for fr in frames:
            x = samples_to_float(fr.to_ndarray())
            self._sumsq += float(np.sum(np.square(x, dtype=np.float64)))
            self._n += x.size
        now = time.monotonic()
        if now - self._window_start >= self.WINDOW_S and self._n:
            ms = self._sumsq / self._n
            level = max(-120.0, 10 * math.log10(ms)) if ms > 0 else -120.0
            self._sumsq, self._n, self._window_start = 0.0, 0, now
            self.owner.on_audio_level(level, now)

    def on_close(self) -> None:
        self._astream = None
        self._index = -1


class CameraHealth:
    """Adapter for one pipeline: feeds the analysers, merges external conditions, publishes."""

    def __init__(self, pipeline: CameraPipeline, template: ThresholdTemplate, network: bool = False) -> None:
        self.pipeline = pipeline
        self.network = network  # the stream is a network URL: judge its host's reachability
        self.reachability: Reachability | None = None  # the last verdict (None: not judged yet / not network)
        self._net_probe: ProbeResult | None = None
        self._net_lock = threading.Lock()  # one verdict at a time: the demux thread and a probe's pool thread
        self.picture = PictureAnalyser(template)
        self.audio = AudioAnalyser(template)
        self._external: dict[str, tuple[str, ...]] = {}
        self._lock = threading.Lock()
        self._live_since: float | None = None
        self.audio_sink = _AudioLevelSink(self)
        self.frames_analysed = 0
        self.analysis_s_total = 0.0

    def on_frame(self, frame: av.VideoFrame, t: float) -> None:
        t0 = time.perf_counter()
        gray = small_gray(frame)
        pts_s = float(frame.pts * frame.time_base) if frame.pts is not None and frame.time_base else None
        snap = self.pipeline.snapshot()
        with self._lock:
            if self._live_since is None:
                self._live_since = t
            self.picture.on_frame(gray, t, pts_s)
            self.picture.on_rates(snap.fps_received, snap.bitrate_bps, t - self._live_since, t)
            self.frames_analysed += 1
            self.analysis_s_total += time.perf_counter() - t0
        self._publish()

    def on_audio_level(self, level: float, t: float) -> None:
        with self._lock:
            self.audio.on_level(level, t)
        self._publish()

    def on_state(self, pipeline, old: StreamState, new: StreamState, reason: str) -> None:
        if new is not StreamState.LIVE:
            with self._lock:
                self.picture.reset()
                self.audio.reset()
                self._live_since = None
            self._publish()
        self._judge_network()

    def on_network_probe(self, result: ProbeResult) -> None:
        """The network probe's latest finding about this camera's host (a probe pool thread)."""
        with self._net_lock:
            self._net_probe = result
        self._judge_network()

    def _judge_network(self) -> None:
        if not self.network:
            return
        with self._net_lock:  # judged and published together, so an older verdict never lands last
            verdict = judge(stream_answer(self.pipeline.snapshot()), host_answers(self._net_probe))
            self.reachability = verdict
            self.set_external(NETWORK_SOURCE, verdict.conditions)

    def set_external(self, source: str, conditions: tuple[str, ...]) -> None:
        with self._lock:
            if self._external.get(source, ()) == tuple(conditions):
                return
            self._external[source] = tuple(conditions)
        self._publish()

    def conditions(self) -> tuple[str, ...]:
        with self._lock:
            out = set(self.picture.active) | set(self.audio.active)
            for c in self._external.values():
                out.update(c)
            return tuple(sorted(out))

    def _publish(self) -> None:
        with self._lock:
            luma = self.picture.mean_luma
            level = self.audio.level_dbfs
        extra: dict = {"mean_luma": round(luma, 1) if luma is not None else None}
        extra["audio_level_dbfs"] = round(level, 1) if level is not None else None
        self.pipeline.set_conditions(self.conditions(), **extra)


class HealthMonitor:
    """Attaches a :class:`CameraHealth` to every tile pipeline the supervisor creates."""

    def __init__(self, supervisor: Supervisor, analysis_fps: float = ANALYSIS_FPS) -> None:
        self.supervisor = supervisor
        self.analysis_fps = analysis_fps
        self._lock = threading.Lock()
        self._cameras: dict[str, CameraHealth] = {}
        self._pending_external: dict[str, dict[str, tuple[str, ...]]] = {}
        self._network_results: dict[str, ProbeResult] = {}  # camera id -> latest network probe result

    def install(self) -> HealthMonitor:
        self.supervisor.add_pipeline_hook(self.attach)
        return self

    def attach(self, pipeline: CameraPipeline, camera: CameraConfig) -> CameraHealth:
        template = self.supervisor.config.thresholds_for(camera)
        health = CameraHealth(pipeline, template, network=stream_endpoint(pipeline.url) is not None)
        pipeline.add_frame_sink(health.on_frame, max_fps=self.analysis_fps)
        pipeline.add_packet_sink(health.audio_sink)
        pipeline.add_state_listener(health.on_state)
        with self._lock:
            self._cameras[camera.id] = health
            pending = self._pending_external.get(camera.id, {})
            net = self._network_results.get(camera.id)
        for source, conds in pending.items():
            health.set_external(source, conds)
        if net is not None:
            health.on_network_probe(net)
        return health

    def camera(self, camera_id: str) -> CameraHealth | None:
        with self._lock:
            return self._cameras.get(camera_id)

    def on_probe_results(self, probe, results) -> None:
        """Probe scheduler listener (pool thread): merge a camera-scoped probe's conditions into that
        camera's snapshot; results that belong to no camera are the alert engine's, not the picture's."""
        by_cam: dict[tuple[str, str], set[str]] = {}
        for r in results:
            if r.kind == NETWORK_KIND and r.camera_id:
                self._on_network_result(r)
                continue
            source = CAMERA_PROBE_SOURCES.get(r.kind)
            if source and r.camera_id:
                by_cam.setdefault((r.camera_id, source), set()).update(r.conditions)
        for (cam, source), conds in by_cam.items():
            self.set_external(cam, source, tuple(sorted(conds)))

    def _on_network_result(self, result: ProbeResult) -> None:
        """The host's finding joins the stream's own evidence (kept for pipelines created later)."""
        with self._lock:
            self._network_results[result.camera_id] = result
            health = self._cameras.get(result.camera_id)
        if health is not None and health.pipeline is self.supervisor.pipeline(result.camera_id):
            health.on_network_probe(result)

    def set_external(self, camera_id: str, source: str, conditions: tuple[str, ...]) -> None:
        """Probe findings for a camera (thread-safe; kept for pipelines created later)."""
        with self._lock:
            self._pending_external.setdefault(camera_id, {})[source] = tuple(conditions)
            health = self._cameras.get(camera_id)
        if health is not None and health.pipeline is self.supervisor.pipeline(camera_id):
            health.set_external(source, tuple(conditions))
