"""Benchmark: what recording N main streams (1920x1080) costs while the wall shows their sub-streams.

    .venv/bin/python bench/main_stream_record.py [--cameras 16] [--seconds 30] [--motion]

Vigil's default for a camera with a sub-stream and continuous recording: the tile pipeline decodes the
sub-stream (640x360, scaled to a 320x180 tile here, as on a 4x4 wall) and a persistent main pipeline
(one more connection) feeds the recorder and decodes keyframes only. Four runs in one lab, each measured
over --seconds after a warm-up:

1. Vigil, ``recording.stream = "main"`` (the core as composed for --headless: Runtime + add_recording, no Qt);
2. Vigil, ``recording.stream = "sub"`` (the old behaviour: the recorder on the tile pipeline, no main
   connection), so the extra cost of recording the main stream shows;
3. and 4. the floor of each: the ffmpeg CLI doing the same work, one process per camera: stream copy of the
   recorded stream into 10 s fragmented-MP4 segments, the sub-stream decoded and scaled to 320x180 BGRA
   (``-f null``), and for the main run the main stream's keyframes decoded too (``-skip_frame nokey``).

Printed per run: process CPU (cores) and, for Vigil, its split by thread kind (from the Python thread names;
FFmpeg's own threads by their OS names: ``av:h264:df*`` are the main decoders' frame threads, the unnamed
ones FFmpeg 8's swscale workers of the tiles' scalers), the lab's CPU, segment files, packets the recorders
dropped, frames the pipelines dropped, the tile and main pipelines' decoded fps (main: ~1/GOP) and one
recorded segment as ffprobe sees it (the main run must record 1920x1080). A 30 Hz reader peeks the tiles'
slots as the wall's paint timer does.

The lab: two gst-rtsp-server processes serving pre-encoded clips by stream copy (main 1920x1080 and sub
640x360, 15 fps, GOP 1 s), one mount per camera on each, so every camera has its own two connections,
on 127.0.0.1; their CPU is reported apart from Vigil's. Read the ratios, not the absolute times: the
machine is noisy. Figures, not pass/fail: nothing here is a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import psutil  # noqa: E402

from app.compose import add_recording  # noqa: E402
from app.config import AppConfig, CameraConfig, CameraRecordingSettings, MotionSettings  # noqa: E402
from app.paths import Paths  # noqa: E402
from app.pipeline.state import StreamState  # noqa: E402
from app.pipeline.supervisor import MAIN, TILE  # noqa: E402
from app.runtime import Runtime  # noqa: E402
from tests.lab import RtspServer, make_clip  # noqa: E402

TILE_BOX = (320, 180)  # a 4x4 wall on a 1920x1080 screen, letterboxed to 16:9
SEGMENT_S = 10
# FFmpeg's defaults probe the clip mounts for ~5 s; Vigil opens them with low-latency options too
FF_INPUT = ["-rtsp_transport", "tcp", "-analyzeduration", "500000", "-probesize", "262144", "-fflags", "nobuffer",
            "-thread_queue_size", "64", "-threads", "1"]  # fmt: skip


# ----------------------------------------------------------------------------------------------- helpers


def cpu_s(p: psutil.Process) -> float:
    t = p.cpu_times()
    return t.user + t.system


def thread_kind(name: str) -> str:
    """What a thread of the Vigil process does, from its name (FFmpeg's own threads have no Python name)."""
    if name.startswith("native:av:"):  # FFmpeg names its codec threads, e.g. av:h264:df0 (frame threads)
        return "FFmpeg h264 frame threads (main keyframe decode)"
    if name.startswith("native:"):  # FFmpeg 8's swscale: one worker per core for each tile's scaler
        return "unnamed native threads (tile swscale workers)"
    if re.fullmatch(r"camera:.+:main:demux", name):
        return "main demux (+ packet copy to the recorder)"
    if re.fullmatch(r"camera:.+:main:decode", name):
        return "main decode thread (keyframes)"
    if re.fullmatch(r"camera:.+:demux", name):
        return "tile demux + decode + scale (sub)"
    if name.endswith(":record"):
        return "recorder (mux + write)"
    if name.startswith("motion:"):
        return "motion"
    if name == DisplayReader.NAME:
        return "bench display reader (the wall's 30 Hz peek)"
    return "other (watchdog, retention, main)"


def thread_times() -> dict[int, tuple[str, float]]:
    """native thread id -> (name, CPU seconds) for every thread of this process."""
    names = {t.native_id: t.name for t in threading.enumerate()}
    out: dict[int, tuple[str, float]] = {}
    for t in psutil.Process().threads():
        name = names.get(t.id)
        if name is None:
            try:
                name = "native:" + Path(f"/proc/self/task/{t.id}/comm").read_text().strip()
            except OSError:
                name = "native:?"
        out[t.id] = (name, t.user_time + t.system_time)
    return out


def by_kind(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    kinds: dict[str, float] = defaultdict(float)
    for tid, (name, cpu) in after.items():
        kinds[thread_kind(name)] += cpu - before.get(tid, (name, 0.0))[1]
    return dict(kinds)


def probe(path: Path | None) -> str:
    """'1920x1080 h264, 150 frames, 10.0 s' for a recorded segment."""
    if path is None:
        return "no segment"
    r = subprocess.run(["ffprobe", "-v", "error", "-count_packets", "-select_streams", "v:0", "-show_entries",
                        "stream=codec_name,width,height,nb_read_packets:format=duration", "-of", "json", str(path)],
                       capture_output=True, text=True)  # fmt: skip
    if r.returncode != 0:
        return f"ffprobe failed: {r.stderr.strip()[-200:]}"
    info = json.loads(r.stdout)
    st, fmt = info["streams"][0], info["format"]
    return (f"{st['width']}x{st['height']} {st['codec_name']}, {st.get('nb_read_packets', '?')} frames, "
            f"{float(fmt.get('duration', 0)):.1f} s")  # fmt: skip


def dir_bytes(folder: Path) -> int:
    """Bytes of the segments (closed and being written: fragmented MP4 grows a GOP at a time) under folder."""
    total = 0
    for p in folder.rglob("*"):
        if p.name.endswith((".mp4", ".mp4.part")):
            try:
                total += p.stat().st_size
            except OSError:
                pass  # renamed or removed meanwhile
    return total


def typical_segment(folder: Path) -> Path | None:
    """The median closed segment by size: a full one (the last of a run, closed by the stop, is shorter)."""
    segs = sorted((p for p in folder.rglob("*.mp4") if p.is_file()), key=lambda p: p.stat().st_size)
    return segs[len(segs) // 2] if segs else None


class DisplayReader:
    """Stands in for the wall's paint timer: peeks every tile's slot at 30 Hz, as the GUI does (without a
    reader every frame would count as replaced unseen)."""

    NAME = "bench:display"

    def __init__(self, pipes_of, hz: float = 30.0) -> None:
        self._pipes_of, self._period = pipes_of, 1.0 / hz
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._run, name=self.NAME, daemon=True)

    def _run(self) -> None:
        seqs: dict[int, int] = {}
        while not self._stop.wait(self._period):
            for p in self._pipes_of():
                if p is not None and (f := p.slot.peek(seqs.get(id(p), 0))) is not None:
                    seqs[id(p)] = f.seq

    def __enter__(self):
        self._t.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._t.join()


class Lab:
    def __init__(self, run_dir: Path, n: int, fps: int, main_bitrate: str, sub_bitrate: str) -> None:
        main_clip = make_clip(run_dir / "main_1920x1080.mp4", seconds=10, size="1920x1080", fps=fps, gop=fps,
                              bitrate=main_bitrate)  # fmt: skip
        sub_clip = make_clip(run_dir / "sub_640x360.mp4", seconds=10, size="640x360", fps=fps, gop=fps,
                             bitrate=sub_bitrate)  # fmt: skip
        self.main = RtspServer(run_dir, mounts=n, fps=fps, clip=main_clip, secure_mounts=0, overlay=False,
                               name="bench_rtsp_main")  # fmt: skip
        self.sub = RtspServer(run_dir, mounts=n, fps=fps, clip=sub_clip, secure_mounts=0, overlay=False,
                              name="bench_rtsp_sub")  # fmt: skip
        self.n = n

    def __enter__(self):
        self.main.start()
        self.sub.start()
        self._procs = [psutil.Process(self.main.pid), psutil.Process(self.sub.pid)]
        return self

    def __exit__(self, *exc) -> None:
        self.sub.stop()
        self.main.stop()

    def cpu(self) -> float:
        return sum(cpu_s(p) for p in self._procs)

    def urls(self, i: int) -> tuple[str, str]:
        return self.main.url(i), self.sub.url(i)


# ----------------------------------------------------------------------------------------------- Vigil


def run_vigil(lab: Lab, stream: str, seconds: float, warmup: float, root: Path, motion: bool) -> dict:
    cams = [CameraConfig(id=f"c{i:02d}", name=f"Cam {i}", url=lab.urls(i)[0], sub_url=lab.urls(i)[1],
                         motion=MotionSettings(enabled=motion, analysis_fps=4),
                         recording=CameraRecordingSettings(mode="continuous", stream=stream))
            for i in range(1, lab.n + 1)]  # fmt: skip
    cfg = AppConfig(cameras=cams)
    cfg.recording.segment_seconds = SEGMENT_S
    cfg.recording.reserve_mb = 0
    rec_dir = root / "rec"
    rt = Runtime(config=cfg, paths=Paths(root / "v.json", root, rec_dir, root / "logs"))
    add_recording(rt)
    rt.supervisor.add_pipeline_hook(lambda p, cam: p.set_output_size(*TILE_BOX))  # the wall's tile size
    sup, recorder, me = rt.supervisor, rt.recording, psutil.Process()
    assert recorder is not None
    variants = (TILE, MAIN) if stream == "main" else (TILE,)

    def snaps(variant: str) -> list:
        return [p.snapshot() if (p := sup.pipeline(c.id, variant)) else None for c in cams]

    gc.collect()  # the previous run's pipelines (and their FFmpeg threads) are gone before this one starts
    t_start = time.monotonic()
    rt.start()
    reader = DisplayReader(lambda: [sup.pipeline(c.id, TILE) for c in cams]).__enter__()
    try:
        deadline = t_start + 60
        while time.monotonic() < deadline:
            ready = all(s is not None and s.state is StreamState.LIVE for v in variants for s in snaps(v))
            if ready:
                break
            time.sleep(0.25)
        live_after = time.monotonic() - t_start
        time.sleep(warmup)
        s0 = {v: snaps(v) for v in variants}
        th0, c0, l0, w0, b0 = thread_times(), cpu_s(me), lab.cpu(), time.monotonic(), dir_bytes(rec_dir)
        time.sleep(seconds)
        th1, c1, l1, w1, b1 = thread_times(), cpu_s(me), lab.cpu(), time.monotonic(), dir_bytes(rec_dir)
        s1 = {v: snaps(v) for v in variants}
        r1 = recorder.statuses()
    finally:
        reader.__exit__()
        rt.stop()
    wall = w1 - w0
    out = {
        "name": f"Vigil, record {stream}", "cpu": (c1 - c0) / wall, "lab": (l1 - l0) / wall, "wall": wall,
        "live_after": live_after, "threads": {k: v / wall for k, v in by_kind(th0, th1).items()},
        "segments": len(list(rec_dir.rglob("*.mp4"))),  # closed ones, including those closed by stop()
        "rec_mb_s": (b1 - b0) / wall / 1e6,
        "rec_dropped": sum(s.packets_dropped for s in r1.values()),
        "recorded": probe(typical_segment(rec_dir)),
    }  # fmt: skip
    for v in variants:
        pairs = [(x, y) for x, y in zip(s1[v], s0[v], strict=True) if x is not None and y is not None]
        a = [x for x, _ in pairs]
        out[v] = {
            "live": sum(x.state is StreamState.LIVE for x in a),
            "rx_fps": sum(x.packets_received_total - y.packets_received_total for x, y in pairs) / wall / len(a),
            "dec_fps": sum(x.frames_decoded_total - y.frames_decoded_total for x, y in pairs) / wall / len(a),
            "fps_decoded": sum(x.fps_decoded for x in a) / len(a),  # the snapshot's own rate meter
            "dropped": sum(x.frames_dropped_total - y.frames_dropped_total for x, y in pairs),
            "stalls": sum(x.stalls_total for x in a),
            "resolution": a[0].resolution,
        }  # fmt: skip
    return out


# ----------------------------------------------------------------------------------------------- floor


def floor_cmd(main_url: str, sub_url: str, stream: str, seg_pattern: Path) -> list[str]:
    """One ffmpeg CLI process doing one camera's work (see the module docstring)."""
    segment = ["-c", "copy", "-f", "segment", "-segment_time", str(SEGMENT_S), "-segment_format", "mp4",
               "-segment_format_options", "movflags=+frag_keyframe+empty_moov+default_base_moof",
               "-reset_timestamps", "1", str(seg_pattern)]  # fmt: skip
    tile = ["-vf", f"scale={TILE_BOX[0]}:{TILE_BOX[1]}:flags=bilinear", "-pix_fmt", "bgra", "-fps_mode",
            "passthrough", "-f", "null", "-"]  # fmt: skip
    # the lab's clip mounts carry no timestamps: re-time from arrival, as Vigil's recorder does
    cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error"]
    if stream == "main":
        cmd += [*FF_INPUT, "-use_wallclock_as_timestamps", "1", "-skip_frame", "nokey", "-i", main_url]
        cmd += [*FF_INPUT, "-use_wallclock_as_timestamps", "1", "-i", sub_url]
        cmd += ["-map", "0:v", *segment, "-map", "0:v", "-fps_mode", "passthrough", "-f", "null", "-"]
        cmd += ["-map", "1:v", *tile]
    else:
        cmd += [*FF_INPUT, "-use_wallclock_as_timestamps", "1", "-i", sub_url]
        cmd += ["-map", "0:v", *segment, "-map", "0:v", *tile]
    return cmd


def run_floor(lab: Lab, stream: str, seconds: float, warmup: float, root: Path) -> dict:
    root.mkdir(parents=True, exist_ok=True)
    procs: list[subprocess.Popen] = []
    t_start = time.monotonic()
    try:
        for i in range(1, lab.n + 1):
            with open(root / f"c{i:02d}.log", "wb") as log_file:
                procs.append(subprocess.Popen(floor_cmd(*lab.urls(i), stream, root / f"c{i:02d}_%03d.mp4"),
                                              stdout=subprocess.DEVNULL, stderr=log_file))  # fmt: skip
        deadline = t_start + 60
        while time.monotonic() < deadline and not all((root / f"c{i:02d}_000.mp4").exists()
                                                       for i in range(1, lab.n + 1)):  # fmt: skip
            time.sleep(0.25)
        live_after = time.monotonic() - t_start
        time.sleep(warmup)
        ps = [psutil.Process(p.pid) for p in procs]
        c0, l0, w0, b0 = sum(cpu_s(p) for p in ps), lab.cpu(), time.monotonic(), dir_bytes(root)
        time.sleep(seconds)
        c1, l1, w1, b1 = sum(cpu_s(p) for p in ps), lab.cpu(), time.monotonic(), dir_bytes(root)
        alive = sum(p.poll() is None for p in procs)
    finally:
        for p in procs:
            p.terminate()  # ffmpeg closes its segment cleanly on SIGTERM
        for p in procs:
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    wall = w1 - w0
    return {"name": f"ffmpeg CLI floor, {stream}", "cpu": (c1 - c0) / wall, "lab": (l1 - l0) / wall,
            "wall": wall, "live_after": live_after, "alive": alive, "rec_mb_s": (b1 - b0) / wall / 1e6,
            "segments": len(list(root.glob("*.mp4"))), "recorded": probe(typical_segment(root))}  # fmt: skip


# ----------------------------------------------------------------------------------------------- main


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cameras", type=int, default=16)
    ap.add_argument("--seconds", type=float, default=30.0, help="measurement window of each run")
    ap.add_argument("--warmup", type=float, default=4.0, help="after every stream is live")
    ap.add_argument("--fps", type=int, default=15)
    ap.add_argument("--main-bitrate", default="2000k")
    ap.add_argument("--sub-bitrate", default="500k")
    ap.add_argument("--motion", action="store_true", help="also analyse motion on the tiles (4 fps)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.WARNING)
    for h in logging.getLogger().handlers:  # expected: the lab's clip mounts carry no timestamps
        h.addFilter(lambda r: "timestamps do not advance" not in r.getMessage())
    n = args.cameras
    run_dir = Path(tempfile.mkdtemp(prefix="vigil-bench-"))
    run_dir.chmod(0o755)  # the RTSP server reads the clips from here
    t0 = time.monotonic()
    print(f"machine: {os.cpu_count()} cores; {n} cameras: main 1920x1080 ({args.main_bitrate}) + sub 640x360 "
          f"({args.sub_bitrate}), {args.fps} fps, GOP 1 s, pre-encoded, served by stream copy (RTSP/TCP); "
          f"tiles {TILE_BOX[0]}x{TILE_BOX[1]}; motion {'on' if args.motion else 'off'}; "
          f"{args.seconds:.0f} s per run", flush=True)  # fmt: skip
    rows = []
    try:
        with Lab(run_dir, n, args.fps, args.main_bitrate, args.sub_bitrate) as lab:
            for stream in ("main", "sub"):
                v = run_vigil(lab, stream, args.seconds, args.warmup, run_dir / f"vigil_{stream}", args.motion)
                print(f"  {v['name']}: {v['cpu']:.2f} cores", flush=True)
                f = run_floor(lab, stream, args.seconds, args.warmup, run_dir / f"floor_{stream}")
                print(f"  {f['name']}: {f['cpu']:.2f} cores", flush=True)
                rows.append((v, f))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)

    print()
    print(f"{'run':<24} {'CPU cores':>9} {'floor':>6} {'ratio':>5} {'lab CPU':>7} {'segments':>8} {'rec MB/s':>8} "
          f"{'rec drops':>9} {'tile dec fps':>12} {'main dec fps':>12} {'frame drops':>11}  recorded segment"
          )  # fmt: skip
    for v, f in rows:
        tile, mainp = v[TILE], v.get(MAIN)
        main_fps = f"{mainp['dec_fps']:.2f} ({mainp['fps_decoded']:.2f})" if mainp else "-"
        drops = tile["dropped"] + (mainp["dropped"] if mainp else 0)
        print(f"{v['name']:<24} {v['cpu']:>9.2f} {f['cpu']:>6.2f} {v['cpu'] / f['cpu']:>5.2f} {v['lab']:>7.2f} "
              f"{v['segments']:>8} {v['rec_mb_s']:>8.2f} {v['rec_dropped']:>9} {tile['dec_fps']:>12.2f} "
              f"{main_fps:>12} {drops:>11}  {v['recorded']}")  # fmt: skip
        print(f"{f['name']:<24} {f['cpu']:>9.2f} {'':>6} {'':>5} {f['lab']:>7.2f} {f['segments']:>8} "
              f"{f['rec_mb_s']:>8.2f} "
              f"{'':>9} {'':>12} {'':>12} {'':>11}  {f['recorded']}  ({f['alive']}/{n} ffmpeg alive)")  # fmt: skip
    print()
    for v, _f in rows:
        total = v["cpu"]
        print(f"{v['name']}: {total:.2f} cores = {total / n * 100:.1f} % of a core per camera; by thread kind:")
        for kind, cores in sorted(v["threads"].items(), key=lambda kv: -kv[1]):
            print(f"    {kind:<50} {cores:>5.2f} cores ({cores / total * 100:4.0f} %)")
        for var in (TILE, MAIN):
            if var in v:
                s = v[var]
                print(f"    {var} pipelines: {s['live']}/{n} live ({s['resolution']}) after {v['live_after']:.1f} s, "
                      f"rx {s['rx_fps']:.2f} fps, decoded {s['dec_fps']:.2f} fps, {s['dropped']} frames dropped, "
                      f"{s['stalls']} stalls")  # fmt: skip
    (vm, fm), (vs, fs) = rows
    print()
    print(f"recording main instead of sub: +{vm['cpu'] - vs['cpu']:.2f} cores for {n} cameras "
          f"(+{(vm['cpu'] - vs['cpu']) / n * 100:.1f} % of a core each); floor +{fm['cpu'] - fs['cpu']:.2f} cores; "
          f"ratio to floor {vm['cpu'] / fm['cpu']:.2f} (main) vs {vs['cpu'] / fs['cpu']:.2f} (sub)")  # fmt: skip
    print(f"CPU cores = process CPU time / wall time (1.00 = one core); lab CPU = both RTSP servers; "
          f"main dec fps = frames decoded per second per main pipeline (its snapshot's fps_decoded); "
          f"total run {time.monotonic() - t0:.0f} s")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
