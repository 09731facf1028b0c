"""The source matrix (issue 12): every packetizer and packager the lab has, watched at once by Vigil's real
camera pipelines, each with a recorder, for a soak of ``VIGIL_SOAK_S`` seconds (default 120).

Per source: LIVE at the end and never away from LIVE after the first LIVE (no flapping), the frame rate the
pipeline reports within ±5 % of the source's and its keyframe interval within ±10 % of the source's GOP, and
every recorded segment decodes with zero ``ffmpeg -v warning`` lines.

The soak runs once for the module (fixture ``soak``), with the sources of the selected tests (``-k rtsp-hevc``
soaks that one); the tests only read its results, one per source and criterion, so a failing source names
itself and the others still report. Sources start in parallel and each
pipeline starts as soon as its server is ready; each source is watched for the soak from its first LIVE (a
source that is not LIVE within ``LIVE_WITHIN_S`` is watched no longer). The figures are sampled twice a
second, when the pipelines are also polled as the supervisor's watchdog polls them (that is what finds
STALLED). A figure passes when its median over the steady part of the soak (from ``settle_s`` after the
first LIVE) is within tolerance and at least ``IN_TOLERANCE_SHARE`` of the samples are: a figure that is
right on average but keeps jumping is as wrong on a tile as one that is off.

Every source's fps and GOP are set by the lab (live encoders told them, or clips made with them) and served
at 320x240-640x360 by encoders on ultrafast presets or by stream copy: the whole lab costs a fraction of one
core of a 2-core CI machine (measured at every run: ``lab_cpu_cores`` in the report). The report, with
every figure, is written to ``<lab dir>/source_matrix.json`` (kept with ``--lab-dir``) and logged.
"""

from __future__ import annotations

import json
import logging
import math
import os
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from app.config import CameraConfig, PipelineSettings
from app.pipeline.pipeline import CameraPipeline
from app.pipeline.state import StreamState
from app.pipeline.supervisor import pipeline_options
from app.recording.recorder import CameraRecorder
from app.recording.segments import Segment, scan_segments
from tests.lab import (
    CodecSwitchHls,
    FfmpegRtmpListener,
    HlsPackager,
    HlsSink2Packager,
    LabError,
    ManagedProcess,
    NginxServer,
    RtmpPublisher,
    RtspServer,
    VlcRtspServer,
    make_clip,
)

pytestmark = pytest.mark.lab

log = logging.getLogger("vigil.lab")

SOAK_S = float(os.environ.get("VIGIL_SOAK_S", "120"))
LIVE_WITHIN_S = 30.0  # a source not LIVE this long after its pipeline started is failed (and no longer watched)
SAMPLE_EVERY_S = 0.5  # the supervisor's watchdog interval
FPS_TOLERANCE = 0.05
GOP_TOLERANCE = 0.10
IN_TOLERANCE_SHARE = 0.9
RECORD_SEGMENT_S = 30.0  # ~5 segments a source in a 2-minute soak: each is decoded once more at the end
RECORDED_SHARE = 0.8  # the segments must cover this share of the time the source was watched LIVE
TILE_BOX = (320, 180)  # pipelines scale to a wall tile, as on the wall (the ABR master picks its rendition by it)


@dataclass(frozen=True)
class Source:
    """One row of the matrix: how to make its server and what the pipeline must measure."""

    id: str  # camera id and test id
    what: str
    fps: float
    gop_s: float  # seconds between keyframes (1 / fps for an intra-only codec)
    codecs: tuple[str, ...]  # HealthSnapshot.codec labels allowed at the end
    make: Callable[[Lab], tuple[ManagedProcess, Callable[[], str]]]  # -> (server, url once started)
    audio: str = ""  # HealthSnapshot.audio_codec expected ("" = none)
    transport: str = "tcp"

    @property
    def settle_s(self) -> float:
        """After the first LIVE: the 5 s rate window filled and two keyframe intervals measured."""
        return 6.0 + 2 * self.gop_s


@dataclass
class Lab:
    """What the sources are made from: the lab dir, the session's nginx, the pre-encoded clips."""

    dir: Path
    nginx: NginxServer
    clips: dict[str, Path] = field(default_factory=dict)


def _clips(lab_dir: Path) -> dict[str, Path]:
    d = lab_dir / "clips"
    return {
        # 1 s GOP at 15 fps, 10 s (VLC's stream-copied input)
        "320p15g1": make_clip(d / "matrix_320x240_15_g15.mp4", seconds=10, size="320x240", fps=15, gop=15,
                              bitrate="300k"),
        # 2 s GOP at 15 fps, 20 s: divides every HLS segment length (2, 6, 10 s); the ABR ladder's two rungs
        "240p15g2": make_clip(d / "matrix_426x240_15_g30.mp4", seconds=20, size="426x240", fps=15, gop=30,
                              bitrate="300k"),
        "360p15g2": make_clip(d / "matrix_640x360_15_g30.mp4", seconds=20, size="640x360", fps=15, gop=30,
                              bitrate="500k"),
        # the same with an AAC tone (live HLS nearly always carries audio: ADTS in TS, raw in fMP4)
        "240p15g2aac": make_clip(d / "matrix_426x240_15_g30_aac.mp4", seconds=20, size="426x240", fps=15, gop=30,
                                 bitrate="300k", audio=True),
    }  # fmt: skip


def _rtsp(name: str, **kw) -> Callable[[Lab], tuple[ManagedProcess, Callable[[], str]]]:
    def make(lab: Lab):
        kw.setdefault("size", "320x240")
        srv = RtspServer(lab.dir, mounts=1, secure_mounts=0, name=f"matrix_{name}", bitrate_kbps=300, **kw)
        return srv, lambda: srv.url(1)

    return make


def _hls(name: str, seconds: int, kind: str, clip: str) -> Callable[[Lab], tuple[ManagedProcess, Callable[[], str]]]:
    def make(lab: Lab):
        srv = HlsPackager(lab.nginx, f"matrix-{name}", clip=lab.clips[clip], segment_seconds=seconds,
                          segment_type=kind)  # fmt: skip
        return srv, lambda: srv.url

    return make


def _abr(lab: Lab):
    clips = {"240p": lab.clips["240p15g2"], "360p": lab.clips["360p15g2"]}
    srv = HlsPackager(lab.nginx, "matrix-abr", clip=clips, segment_seconds=2, segment_type="mpegts")
    return srv, lambda: srv.url


def _vlc(lab: Lab):
    srv = VlcRtspServer(lab.dir, clip=lab.clips["320p15g1"], name="matrix_vlc")
    return srv, lambda: srv.url


def _rtmp_listen(lab: Lab):
    srv = FfmpegRtmpListener(lab.dir, size="320x240", fps=30, gop_seconds=2, audio=True, name="matrix_rtmp_listen")
    return srv, lambda: srv.url


def _nginx_rtmp(lab: Lab):
    srv = RtmpPublisher(lab.nginx, name="matrix", size="320x240", fps=15, bitrate="300k")  # GOP = fps: 1 s
    return srv, lambda: srv.url


def _hlssink2(lab: Lab):
    srv = HlsSink2Packager(lab.nginx, "matrix-hlssink2", size="320x240", fps=15, gop_seconds=2, segment_seconds=2,
                           audio=True)  # fmt: skip
    return srv, lambda: srv.url


def _switch(lab: Lab):
    srv = CodecSwitchHls(lab.nginx, "matrix-switch", size="320x240", fps=15, segment_seconds=2, run=4)
    return srv, lambda: srv.url


H264, HEVC = ("H.264",), ("H.265",)
SOURCES = [
    Source("rtsp-h264-inband", "GStreamer RTSP, SPS/PPS before every IDR (config-interval=-1)", 15, 1.0, H264,
           _rtsp("inband", fps=15, gop_seconds=1, config_interval=-1)),
    Source("rtsp-h264-sdp-only", "GStreamer RTSP, SPS/PPS only in the SDP (config-interval=0)", 25, 2.0, H264,
           _rtsp("sdp", fps=25, gop_seconds=2, config_interval=0)),
    Source("rtsp-h264-slices", "GStreamer RTSP, H.264 in 4 slices per picture", 15, 1.0, H264,
           _rtsp("slices", fps=15, gop_seconds=1, slices=4)),
    Source("rtsp-hevc", "GStreamer RTSP, HEVC (x265enc + rtph265pay, VPS/SPS/PPS before every IDR)", 15, 1.0, HEVC,
           _rtsp("hevc", fps=15, gop_seconds=1, codec="hevc", config_interval=-1)),
    Source("rtsp-mjpeg", "GStreamer RTSP, MJPEG (jpegenc + rtpjpegpay)", 10, 0.1, ("MJPEG",),
           _rtsp("mjpeg", fps=10, codec="mjpeg")),
    Source("rtsp-h264-aac", "GStreamer RTSP, H.264 + AAC audio (rtpmp4gpay)", 15, 2.0, H264,
           _rtsp("aac", fps=15, gop_seconds=2, audio="aac"), audio="aac"),
    Source("vlc-rtsp-udp", "VLC RTSP server (RTP over UDP only), clip by stream copy", 15, 1.0, H264, _vlc,
           transport="udp"),
    Source("ffmpeg-rtmp-listen", "ffmpeg as a one-client RTMP server (-listen 1), H.264 + AAC", 30, 2.0, H264,
           _rtmp_listen, audio="aac"),
    Source("nginx-rtmp", "nginx-rtmp, ffmpeg publishing H.264 + AAC", 15, 1.0, H264, _nginx_rtmp, audio="aac"),
    # 2 and 10 s segments video only, 6 s with AAC: a recording fault names the stream that causes it
    *(
        Source(f"hls-{kind_id}-{s}s", f"ffmpeg live HLS, {s} s {kind} segments{' + AAC' if s == 6 else ''}, "
               "clip by stream copy", 15, 2.0, H264,
               _hls(f"{kind_id}-{s}s", s, kind, "240p15g2aac" if s == 6 else "240p15g2"), audio="aac" if s == 6 else "")
        for kind, kind_id in (("mpegts", "ts"), ("fmp4", "fmp4"))
        for s in (2, 6, 10)
    ),
    Source("hls-abr-master", "ffmpeg live HLS ABR master (240p + 360p), 2 s TS segments", 15, 2.0, H264, _abr),
    Source("hls-gst-hlssink2", "GStreamer hlssink2, 2 s TS segments, H.264 + AAC", 15, 2.0, H264, _hlssink2,
           audio="aac"),
    Source("hls-codec-switch", "live HLS switching H.264 <-> HEVC every 8 s after EXT-X-DISCONTINUITY", 15, 2.0,
           ("H.264", "H.265"), _switch),
]  # fmt: skip


# --------------------------------------------------------------------------- one source under watch
@dataclass
class Watch:
    source: Source
    server: ManagedProcess | None = None
    url: str = ""
    start_error: str = ""
    skipped: str = ""  # a lab program is missing here (and this is not CI)
    server_start_s: float | None = None
    pipeline: CameraPipeline | None = None
    recorder: CameraRecorder | None = None
    started_at: float | None = None  # monotonic: the pipeline's start
    first_live_at: float | None = None
    transitions: list[tuple[float, str, str, str]] = field(default_factory=list)  # (t, old, new, reason)
    samples: list[dict] = field(default_factory=list)
    last: dict = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def on_state(self, _p, old: StreamState, new: StreamState, reason: str) -> None:  # on a pipeline thread
        now = time.monotonic()
        with self.lock:
            self.transitions.append((now, str(old), str(new), reason))
            if new is StreamState.LIVE and self.first_live_at is None:
                self.first_live_at = now

    def done(self, now: float) -> bool:
        if self.pipeline is None:
            return self.start_error != "" or self.skipped != ""
        if self.first_live_at is not None:
            return now >= self.first_live_at + SOAK_S
        return now >= self.started_at + LIVE_WITHIN_S


def _strict() -> bool:
    return bool(os.environ.get("VIGIL_LAB_STRICT") or os.environ.get("CI"))


def _start_source(w: Watch, lab: Lab, rec_root: Path) -> None:
    """On a thread of its own: start the server, then at once the pipeline and its recorder."""
    src = w.source
    try:
        w.server, url = src.make(lab)
        w.server.start()
        w.server_start_s = w.server.start_seconds
        w.url = url()
    except LabError as e:
        if not _strict() and str(e).startswith("test lab needs missing program"):
            w.skipped = str(e)
        else:
            w.start_error = f"{type(e).__name__}: {e}"
        return
    except Exception as e:  # a broken lab class must fail its source, not the soak
        w.start_error = f"{type(e).__name__}: {e}"
        return
    cam = CameraConfig(id=src.id, name=src.id, url=w.url, transport=src.transport)
    p = CameraPipeline(src.id, src.id, w.url, options=pipeline_options(PipelineSettings(), cam))
    p.set_output_size(*TILE_BOX)
    p.add_state_listener(w.on_state)
    rec = CameraRecorder(src.id, rec_root, segment_seconds=RECORD_SEGMENT_S, reserve_mb=0)
    p.add_packet_sink(rec)
    rec.start()
    w.pipeline, w.recorder = p, rec
    w.started_at = time.monotonic()
    p.start()


def _sample(w: Watch, now: float) -> None:
    p = w.pipeline
    p.poll(now)  # what the supervisor's watchdog does twice a second: finds STALLED
    s = p.snapshot()
    row = {
        "t": round(now - (w.first_live_at or w.started_at), 2),
        "state": str(s.state),
        "fps": s.fps_received,
        "kf": s.keyframe_interval_s,
        "codec": s.codec,
        "audio": s.audio_codec,
        "size": f"{s.width}x{s.height}",
        "reason": s.reason,
    }
    w.last = row
    if w.first_live_at is not None and now >= w.first_live_at:
        w.samples.append(row)


def _warnings(path: str) -> list[str]:
    r = subprocess.run(["ffmpeg", "-nostdin", "-hide_banner", "-v", "warning", "-i", path, "-f", "null", "-"],
                       capture_output=True, text=True, timeout=120)  # fmt: skip
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    if r.returncode != 0 and not lines:
        lines = [f"ffmpeg exited with {r.returncode}"]
    return lines


def _figure(samples: list[float], expected: float, tolerance: float) -> dict:
    if not samples:
        return {"n": 0, "ok": False}
    inside = [v for v in samples if abs(v - expected) <= expected * tolerance]
    median = statistics.median(samples)
    share = len(inside) / len(samples)
    return {
        "n": len(samples),
        "expected": expected,
        "median": round(median, 3),
        "min": round(min(samples), 3),
        "max": round(max(samples), 3),
        "in_tolerance": round(share, 3),
        "ok": abs(median - expected) <= expected * tolerance and share >= IN_TOLERANCE_SHARE,
    }


def _report(w: Watch, segments: list[Segment], seg_warnings: dict[str, list[str]]) -> dict:
    src = w.source
    steady = [s for s in w.samples if s["t"] >= src.settle_s and s["state"] == str(StreamState.LIVE)]
    with w.lock:
        transitions = list(w.transitions)
    end = (w.first_live_at + SOAK_S) if w.first_live_at is not None else math.inf
    away = [
        {"t": round(t - w.first_live_at, 1), "from": old, "to": new, "reason": reason}
        for t, old, new, reason in transitions
        if w.first_live_at is not None and w.first_live_at < t <= end and new != str(StreamState.LIVE)
    ]
    live_for = (w.samples[-1]["t"] if w.samples else 0.0) if w.first_live_at is not None else 0.0
    status = w.recorder.status() if w.recorder else None
    return {
        "source": src.id,
        "what": src.what,
        "url": w.url,
        "start_error": w.start_error,
        "skipped": w.skipped,
        "server_start_s": round(w.server_start_s, 2) if w.server_start_s is not None else None,
        "time_to_live_s": round(w.first_live_at - w.started_at, 2) if w.first_live_at and w.started_at else None,
        "watched_live_s": round(live_for, 1),
        "final": w.last,
        "away_from_live": away,
        "transitions": [
            {"t": round(t - (w.started_at or t), 1), "from": old, "to": new, "reason": reason}
            for t, old, new, reason in transitions
            if t <= end
        ],
        "fps": _figure([s["fps"] for s in steady], src.fps, FPS_TOLERANCE),
        "keyframe_interval_s": _figure([s["kf"] for s in steady if s["kf"] > 0], src.gop_s, GOP_TOLERANCE),
        "fps_series": [s["fps"] for s in steady][:: max(1, len(steady) // 20)],
        "kf_series": [s["kf"] for s in steady][:: max(1, len(steady) // 20)],
        "segments": [{"path": s.path, "duration_s": round(s.duration, 2)} for s in segments],
        "recorded_s": round(sum(s.duration for s in segments), 1),
        "recorder": {"state": status.state, "reason": status.reason, "packets_dropped": status.packets_dropped}
        if status
        else None,
        "segment_warnings": seg_warnings,
    }


def _cpu(nginx: NginxServer, watches: list[Watch]) -> dict[str, float]:
    """CPU seconds used so far by each running lab server (the shared nginx as "nginx")."""
    out = {"nginx": nginx.cpu_seconds()}
    for w in watches:
        if w.server is not None and w.server.is_running():
            out[w.source.id] = w.server.cpu_seconds()
    return out


def _selected(request) -> list[Source]:
    """The sources some selected test of this module reads (``-k rtsp-hevc`` soaks that one source only)."""
    ids = set()
    for item in request.session.items:
        callspec = getattr(item, "callspec", None)
        if getattr(item, "module", None) is request.module and callspec and "source" in callspec.params:
            ids.add(callspec.params["source"].id)
    return [src for src in SOURCES if src.id in ids]


@pytest.fixture(scope="module")
def soak(request, lab_dir, nginx_lab, tmp_path_factory) -> dict[str, dict]:
    """Start every selected source, watch them all, stop everything, check the recordings; per-source reports."""
    lab = Lab(lab_dir, nginx_lab, _clips(lab_dir))
    rec_root = tmp_path_factory.mktemp("matrix-recordings")
    watches = [Watch(src) for src in _selected(request)]
    starters = [threading.Thread(target=_start_source, args=(w, lab, rec_root), name=f"matrix:start:{w.source.id}")
                for w in watches]  # fmt: skip
    t0 = time.monotonic()
    for t in starters:
        t.start()
    cpu_mark: tuple[float, dict[str, float], float] | None = None  # (wall, lab cpu, our cpu) once all started
    try:
        while True:
            now = time.monotonic()
            for w in watches:
                if w.pipeline is not None and not w.done(now):
                    _sample(w, now)
            if cpu_mark is None and not any(t.is_alive() for t in starters):
                cpu_mark = (now, _cpu(nginx_lab, watches), time.process_time())
            if cpu_mark is not None and all(w.done(now) for w in watches):
                break
            if now - t0 > SOAK_S + LIVE_WITHIN_S + 120:  # never hang CI: a starter stuck for minutes
                log.error("source matrix: still not done %.0f s after the start; ending the soak", now - t0)
                break
            time.sleep(max(0.0, SAMPLE_EVERY_S - (time.monotonic() - now)))
        end = time.monotonic()
        wall, lab_cpu, vigil_cpu = 0.0, {}, 0.0
        if cpu_mark is not None:
            wall = end - cpu_mark[0]
            now_cpu = _cpu(nginx_lab, watches)
            lab_cpu = {k: now_cpu[k] - v for k, v in cpu_mark[1].items() if k in now_cpu}
            vigil_cpu = time.process_time() - cpu_mark[2]
    finally:
        t_stop = time.monotonic()
        for t in starters:
            t.join(30)
        with ThreadPoolExecutor(len(watches) or 1) as pool:  # a stop may wait for a read time-out: in parallel
            list(pool.map(lambda w: w.pipeline and w.pipeline.stop(), watches))
            list(pool.map(lambda w: w.recorder and w.recorder.stop(), watches))
            list(pool.map(lambda w: w.server and w.server.stop(), watches))
        stop_s = time.monotonic() - t_stop
    # the recordings are checked once the lab is stopped (its CPU is then free for ffmpeg)
    t_check = time.monotonic()
    segments = {w.source.id: scan_segments(rec_root, w.source.id) for w in watches}
    paths = [s.path for segs in segments.values() for s in segs]
    with ThreadPoolExecutor(os.cpu_count() or 2) as pool:
        warnings = dict(zip(paths, pool.map(_warnings, paths), strict=True))
    check_s = time.monotonic() - t_check
    reports = {}
    for w in watches:
        segs = segments[w.source.id]
        reports[w.source.id] = _report(w, segs, {s.path: warnings[s.path] for s in segs})
    summary = {
        "soak_s": SOAK_S,
        "total_s": round(time.monotonic() - t0, 1),
        "watched_wall_s": round(wall, 1),
        "stop_s": round(stop_s, 1),
        "check_s": round(check_s, 1),
        "segments_checked": len(paths),
        "lab_cpu_cores": round(sum(lab_cpu.values()) / wall, 3) if wall else None,
        # this test process: every pipeline and recorder (and the sampling loop)
        "vigil_cpu_cores": round(vigil_cpu / wall, 3) if wall else None,
        "lab_cpu_cores_by_server": {k: round(v / wall, 3) for k, v in lab_cpu.items()} if wall else {},
    }
    (lab_dir / "source_matrix.json").write_text(json.dumps({"summary": summary, "sources": reports}, indent=1))
    log.info("source matrix: %s\n%s", summary, _table(reports))
    return reports


def _table(reports: dict[str, dict]) -> str:
    rows = [f"{'source':22} {'live@':>6} {'fps':>14} {'keyframe s':>16} {'away':>4} {'segs':>4} {'warn':>4}  final"]
    for r in reports.values():
        f, k = r["fps"], r["keyframe_interval_s"]
        fps = f"{f.get('median', '-')}/{f.get('expected', '-')}"
        kf = f"{k.get('median', '-')}/{k.get('expected', '-')}"
        warn = sum(1 for v in r["segment_warnings"].values() if v)
        live = r["time_to_live_s"] or "-"
        final = r["final"].get("state", r["start_error"] or r["skipped"])
        rows.append(f"{r['source']:22} {live:>6} {fps:>14} {kf:>16} {len(r['away_from_live']):>4} "
                    f"{len(r['segments']):>4} {warn:>4}  {final}")  # fmt: skip
    return "\n".join(rows)


# --------------------------------------------------------------------------- the matrix
def _report_for(soak: dict[str, dict], source: Source) -> dict:
    r = soak[source.id]
    if r["skipped"]:
        pytest.skip(r["skipped"])
    assert not r["start_error"], f"{source.id}: the lab source did not start: {r['start_error']}"
    return r


def _timeout() -> float:
    return SOAK_S + LIVE_WITHIN_S + 300


@pytest.mark.timeout(_timeout())
@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_goes_live_and_never_leaves_live(soak, source):
    r = _report_for(soak, source)
    assert r["time_to_live_s"] is not None, (
        f"{source.id} never LIVE within {LIVE_WITHIN_S:.0f} s: last {r['final']}; transitions {r['transitions']}"
    )
    assert r["final"]["state"] == str(StreamState.LIVE), f"{source.id} not LIVE at the end: {r['final']}"
    assert r["away_from_live"] == [], (
        f"{source.id} left LIVE {len(r['away_from_live'])} times in {r['watched_live_s']} s: {r['away_from_live'][:8]}"
    )
    assert r["watched_live_s"] >= SOAK_S - 2 * SAMPLE_EVERY_S, r["watched_live_s"]
    assert r["final"]["codec"] in source.codecs, f"{source.id}: codec {r['final']['codec']}, want {source.codecs}"
    assert r["final"]["audio"] == source.audio, f"{source.id}: audio {r['final']['audio']!r}, want {source.audio!r}"


@pytest.mark.timeout(_timeout())
@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_frame_rate_is_the_sources(soak, source):
    r = _report_for(soak, source)
    f = r["fps"]
    assert f["ok"], (
        f"{source.id}: fps_received {f} (want {source.fps} ±{FPS_TOLERANCE:.0%}, median and "
        f">= {IN_TOLERANCE_SHARE:.0%} of samples); series {r['fps_series']}"
    )


@pytest.mark.timeout(_timeout())
@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_keyframe_interval_is_the_sources_gop(soak, source):
    r = _report_for(soak, source)
    k = r["keyframe_interval_s"]
    assert k["ok"], (
        f"{source.id}: keyframe_interval_s {k} (want {source.gop_s} s ±{GOP_TOLERANCE:.0%}, median and "
        f">= {IN_TOLERANCE_SHARE:.0%} of samples); series {r['kf_series']}"
    )


@pytest.mark.timeout(_timeout())
@pytest.mark.parametrize("source", SOURCES, ids=[s.id for s in SOURCES])
def test_recording_decodes_without_a_warning(soak, source):
    r = _report_for(soak, source)
    assert r["segments"], f"{source.id}: no recorded segment; recorder {r['recorder']}"
    bad = {Path(p).name: lines[:5] for p, lines in r["segment_warnings"].items() if lines}
    assert not bad, f"{source.id}: {len(bad)} of {len(r['segments'])} segments decode with warnings: {bad}"
    if r["watched_live_s"]:
        assert r["recorded_s"] >= RECORDED_SHARE * r["watched_live_s"], (
            f"{source.id}: {r['recorded_s']} s recorded in {r['watched_live_s']} s LIVE; recorder {r['recorder']}"
        )
