"""Instant replay's core (app/recording/replay.py): the packet ring on a real CameraPipeline and the player.

Real sources only: the lab's H.264 clip (a file that loops: a reconnect inside every 10 s, new timestamps)
and the lab's RTSP server (parameter sets in the SDP: the ring must keep the extradata to decode)."""

from __future__ import annotations

import threading
import time

import pytest

from app.pipeline.pipeline import CameraPipeline, PipelineOptions
from app.recording.replay import PacketRing, ReplayPlayer
from tests.helpers import wait_for

FAST = PipelineOptions(open_timeout_s=5, read_timeout_s=4, stall_after_s=2, backoff_initial_s=0.2, backoff_cap_s=1.0)


@pytest.fixture
def pipeline_with_rings():
    made: list[CameraPipeline] = []

    def make(url: str, *rings: PacketRing) -> CameraPipeline:
        p = CameraPipeline("cam", "Cam", url, options=FAST)
        p.set_output_size(320, 180)
        for r in rings:
            p.add_packet_sink(r)
        made.append(p)
        p.start()
        return p

    yield make
    for p in made:
        p.stop()


def test_the_ring_holds_whole_gops_of_the_last_seconds_from_a_keyframe(pipeline_with_rings, lab_clip):
    ring = PacketRing("cam", seconds=3.0)
    pipeline_with_rings(f"file://{lab_clip}", ring)
    wait_for(lambda: ring.held_s() >= 3.0, 20, what="3 s held")
    time.sleep(3.0)  # more than the ring keeps: GOPs must have gone from the front
    held = ring.held_s()
    packets = ring.since(60)
    assert packets and packets[0].key, "a replay must start at a keyframe"
    # the clip's GOP is 1 s: the ring keeps 3 s plus at most the GOP that reaches back past it
    assert 2.0 <= held <= 3.0 + 1.3, held
    assert packets[0].params.codec == "h264"
    assert packets[-1].received_at <= time.time()


def test_the_ring_never_holds_more_than_its_byte_cap(pipeline_with_rings, lab_clip):
    cap = 96 * 1024  # a few GOPs of the 640x360 clip
    ring = PacketRing("cam", seconds=60.0, max_bytes=cap)
    samples: list[int] = []
    stop = threading.Event()

    def sample():
        while not stop.wait(0.02):
            samples.append(ring.nbytes)

    pipeline_with_rings(f"file://{lab_clip}", ring)
    t = threading.Thread(target=sample, name="test:sampler", daemon=True)
    t.start()
    try:
        wait_for(lambda: ring.gops_dropped_for_bytes >= 3, 30, what="GOPs dropped for the byte cap")
    finally:
        stop.set()
        t.join(2)
    assert max(samples) <= cap and ring.peak_bytes <= cap, (max(samples), ring.peak_bytes)
    assert ring.peak_bytes > cap // 2  # it did fill up to near the cap (the test measured something)
    assert ring.since(60)[0].key


def test_a_replay_shows_pictures_older_than_live_then_ends_at_the_live_edge(pipeline_with_rings, rtsp_lab):
    ring = PacketRing("cam", seconds=30.0)
    pipeline_with_rings(rtsp_lab.url(1), ring)
    wait_for(lambda: ring.held_s() >= 11.0, 40, what="11 s held")
    packets = ring.since(10.0)
    asked = time.time()
    player = ReplayPlayer("cam", packets, (320, 180))
    assert player._thread.name == "replay:cam"
    player.start()
    first = wait_for(lambda: player.slot.latest(), 10, what="a first replayed picture")
    assert first.wall_time is not None and asked - first.wall_time >= 8.0, asked - first.wall_time
    assert first.width <= 320 and first.height <= 180 and first.image.shape[2] == 4
    assert player.ended.wait(25), "the replay never reached the live edge"
    took = time.time() - asked
    last = player.slot.latest()
    # paced in real time: about the 10-11 s it replayed (the lab stream is live 15 fps), not a burst
    assert 8.0 <= took <= 20.0, took
    assert last.wall_time >= asked - 1.5, asked - last.wall_time  # it ended where live was when asked
    assert player.frames_out >= 0.8 * 15 * 10, player.frames_out
    assert player.decode_errors == 0


def test_stop_ends_a_replay_at_once(pipeline_with_rings, lab_clip):
    ring = PacketRing("cam", seconds=30.0)
    pipeline_with_rings(f"file://{lab_clip}", ring)
    wait_for(lambda: ring.held_s() >= 4.0, 20, what="4 s held")
    player = ReplayPlayer("cam", ring.since(30.0), (320, 180))
    player.start()
    wait_for(lambda: player.slot.latest(), 10, what="a first replayed picture")
    t0 = time.monotonic()
    assert player.stop()
    assert time.monotonic() - t0 < 2.0
    assert player.ended.is_set() and not player.running


def test_a_synthetic_camera_keeps_nothing_and_says_why(pipeline_with_rings):
    ring = PacketRing("cam", seconds=30.0)
    p = pipeline_with_rings("demo://x?pattern=testsrc2&size=320x180&rate=10", ring)
    wait_for(lambda: p.snapshot().frames_decoded_total > 5, 20, what="demo pictures")
    assert ring.since(30.0) == [] and ring.nbytes == 0
    assert "generated" in ring.unavailable
