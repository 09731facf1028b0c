"""AudioTap: the focused camera's audio from the pipeline's own connection, decoded into a short PCM ring.

Lab tests run a real CameraPipeline on the lab's GStreamer RTSP server (H.264 + an AAC 440 Hz tone at volume
0.3, i.e. a peak of 20·log10(0.3) = -10.5 dBFS, 44.1 kHz mono) and attach the tap to the running connection,
as the window does at focus. The ring and the queue are tested without threads.
"""

from __future__ import annotations

import math
import threading
import time

import av
import numpy as np
import pytest

from app.pipeline.audio import NO_AUDIO, RATE, AudioTap, PcmRing
from app.pipeline.pipeline import CameraPipeline
from app.pipeline.state import StreamState
from tests.helpers import wait_for
from tests.pipeline.conftest import FAST, wait_state

TONE_DBFS = 20 * math.log10(0.3)  # tests/lab/rtsp_server.py audio_branch: audiotestsrc volume=0.3
SINE_URL = "lavfi:testsrc2=size=160x90:rate=10[out0];sine=frequency=440:sample_rate=44100[out1]"
SINE_DBFS = 20 * math.log10(1 / 8)  # FFmpeg's sine source: amplitude 1/8


# ---------------------------------------------------------------------------------------------- the ring
def test_the_ring_plays_from_a_short_prebuffer_and_fills_silence_when_the_writer_is_late():
    ring = PcmRing(rate=1000, seconds=1.0, prebuffer_s=0.1, max_lag_s=0.5)
    ring.write(np.arange(1, 301, dtype=np.int16).repeat(2).reshape(-1, 2))  # frames 1..300
    first = ring.read(50)
    assert first[0, 0] == 201 and first[-1, 0] == 250  # starts 100 frames (the prebuffer) behind the newest
    rest = ring.read(80)
    assert list(rest[:50, 0]) == list(range(251, 301)) and not rest[50:].any()  # then silence, counted
    assert ring.underruns == 1
    assert not ring.read(10).any()  # nothing new: silence, the reader waits where it is
    ring.write(np.full((10, 2), 7, np.int16))
    assert (ring.read(10) == 7).all()


def test_a_reader_that_falls_behind_jumps_forward_so_the_sound_is_never_more_than_half_a_second_late():
    ring = PcmRing(rate=1000, seconds=1.0, prebuffer_s=0.1, max_lag_s=0.5)
    ring.write(np.zeros((10, 2), np.int16))
    ring.read(10)
    ring.write(np.arange(2000, dtype=np.int16).repeat(2).reshape(-1, 2))  # 2 s arrive at once: ring keeps 1 s
    out = ring.read(10)
    assert out[0, 0] == 1900  # prebuffer (100) behind the newest (1999)
    assert ring.skipped > 0


def test_the_peak_level_is_in_dbfs_and_none_when_no_sound_arrived_in_the_window():
    ring = PcmRing(rate=1000, seconds=1.0)
    assert ring.peak_dbfs() is None
    ring.write(np.full((500, 2), 16384, np.int16))  # half of full scale
    assert ring.peak_dbfs() == pytest.approx(-6.02, abs=0.01)
    ring.write(np.zeros((500, 2), np.int16))  # the last 200 ms are silence
    assert ring.peak_dbfs() == -120.0
    ring.last_write -= 1.0  # nothing written for a second
    assert ring.peak_dbfs() is None


class _Pkt:
    """A packet as the demux thread hands it (stream index, size, bytes)."""

    def __init__(self, index: int, data: bytes) -> None:
        self.stream_index, self._data = index, data
        self.size = len(data)

    def __bytes__(self) -> bytes:
        return self._data


def test_the_packet_queue_is_bounded_and_drops_its_oldest_packet_counted():
    container = av.open("sine=frequency=440", format="lavfi")
    try:
        tap = AudioTap("q", queue_max=5)  # not started: nothing drains the queue
        tap.on_open(container)
        index = container.streams.audio[0].index
        for i in range(12):
            tap.on_packet(_Pkt(index, bytes([i])))
        tap.on_packet(_Pkt(index + 1, b"video"))  # not the audio stream: ignored
        assert tap.packets_dropped == 7
        packets = [x for x in tap._queue if isinstance(x, bytes)]
        assert packets == [bytes([i]) for i in range(7, 12)]  # the newest five kept
    finally:
        container.close()


def test_a_stream_with_audio_from_a_local_source_fills_the_ring_at_48_khz():
    """No server: FFmpeg's lavfi sine next to a test picture, through a real pipeline."""
    p = CameraPipeline("sine", "Sine", SINE_URL, options=FAST)
    p.start()
    tap = AudioTap("sine").start()
    try:
        wait_state(p, StreamState.LIVE)
        p.add_packet_sink(tap)  # joins the running connection, as at a focus
        wait_for(lambda: tap.samples_decoded > 0, timeout=10, what="decoded audio")
        n0, t0 = tap.samples_decoded, time.monotonic()
        time.sleep(3.0)
        rate = (tap.samples_decoded - n0) / (time.monotonic() - t0)
        assert 0.85 * RATE < rate < 1.15 * RATE, rate
        assert tap.level_dbfs() == pytest.approx(SINE_DBFS, abs=1.0)
        assert tap.has_audio and tap.codec.startswith("pcm_") and tap.words == ""
        # at unfocus: removed from the connection (on_close at the next packet), then closed within 1 s
        p.remove_packet_sink(tap)
        wait_for(lambda: tap._index == -1, timeout=5, what="the tap closed by the connection")
        t = time.monotonic()
        assert tap.close(1.0) and time.monotonic() - t < 1.0
        assert not any(th.name == "audio:sine" for th in threading.enumerate())
    finally:
        tap.close()
        p.stop()


# ---------------------------------------------------------------------------------------------- the lab


@pytest.mark.lab
def test_aac_from_a_camera_is_decoded_at_48_khz_and_a_tone_reads_its_level(rtsp_server_factory, make_pipeline):
    srv = rtsp_server_factory(audio="aac")
    p = make_pipeline(srv.url(1), camera_id="aac")
    wait_state(p, StreamState.LIVE)
    tap = AudioTap("aac").start()
    try:
        p.add_packet_sink(tap)
        wait_for(lambda: tap.samples_decoded > RATE // 4, timeout=15, what="decoded AAC")
        assert tap.has_audio and tap.codec == "aac" and tap.words == ""
        n0, t0 = tap.samples_decoded, time.monotonic()
        levels = []
        while time.monotonic() - t0 < 4.0:
            time.sleep(0.25)
            levels.append(tap.level_dbfs())
        rate = (tap.samples_decoded - n0) / (time.monotonic() - t0)
        assert 0.85 * RATE < rate < 1.15 * RATE, rate  # 44.1 kHz resampled to 48 kHz, in real time
        heard = [x for x in levels if x is not None]
        assert len(heard) >= 0.8 * len(levels), levels
        assert float(np.median(heard)) == pytest.approx(TONE_DBFS, abs=1.5), heard  # mono duplicated, not -3 dB
        assert tap.packets_dropped == 0
        # only one connection: the tap rides the pipeline's, which counted no reconnect for it
        assert p.snapshot().reconnects_total == 0
    finally:
        p.remove_packet_sink(tap)
        assert tap.close(1.0)


@pytest.mark.lab
def test_a_camera_without_audio_says_so(rtsp_lab, make_pipeline):
    p = make_pipeline(rtsp_lab.url(1), camera_id="mute")
    wait_state(p, StreamState.LIVE)
    tap = AudioTap("mute").start()
    try:
        p.add_packet_sink(tap)
        wait_for(lambda: tap.words == NO_AUDIO, timeout=10, what="the no-audio words")
        assert not tap.has_audio and tap.samples_decoded == 0 and tap.level_dbfs() is None
    finally:
        p.remove_packet_sink(tap)
        assert tap.close(1.0)


class _Log:
    """A packet sink that writes down what it is told, in order."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def on_open(self, container) -> None:
        self.calls.append("open")

    def on_packet(self, packet) -> None:
        if not self.calls or self.calls[-1] != "packet":
            self.calls.append("packet")

    def on_close(self) -> None:
        self.calls.append("close")


def test_a_sink_joins_and_leaves_a_running_connection_without_a_reconnect():
    p = CameraPipeline("join", "Join", SINE_URL, options=FAST)
    p.start()
    try:
        wait_state(p, StreamState.LIVE)
        log = _Log()
        p.add_packet_sink(log)
        wait_for(lambda: "packet" in log.calls, timeout=5, what="packets to the late sink")
        assert log.calls[0] == "open"  # on_open with the open connection's container, before any packet
        p.remove_packet_sink(log)
        wait_for(lambda: "close" in log.calls, timeout=5, what="on_close at the next packet")
        time.sleep(0.5)
        assert log.calls == ["open", "packet", "close"]  # nothing after the close
        assert p.snapshot().reconnects_total == 0
    finally:
        p.stop()
