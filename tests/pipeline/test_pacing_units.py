"""Pure parts of live-source handling: pacing to timestamps, the codec in a packet's bytes, the HLS playlist read."""

from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from app.pipeline import playlist
from app.pipeline.bitstream import annexb_codec, annexb_codecs
from app.pipeline.pacing import Pacer
from app.pipeline.playlist import MAX_PLAYLIST_BYTES, read_playlist
from probes import http as probes_http

# ---------------------------------------------------------------------- pacing


def test_a_segment_delivered_at_once_is_released_at_the_pace_of_its_timestamps():
    """30 fps worth of packets arriving in one burst: each waits until its timestamp is due."""
    p = Pacer()
    assert p.delay(100.0, now=50.0) == 0.0  # the first packet sets the origin
    waits = [p.delay(100.0 + i / 30, now=50.0) for i in range(1, 31)]
    assert waits == pytest.approx([i / 30 for i in range(1, 31)])
    assert p.reanchors == 0


def test_packets_arriving_on_time_are_not_delayed():
    p = Pacer()
    for i in range(60):
        assert p.delay(i / 15, now=10.0 + i / 15) == pytest.approx(0.0, abs=1e-9)


def test_a_source_that_paused_restarts_the_clock_instead_of_playing_the_backlog_in_a_burst():
    """A late segment: the packets after the gap are paced from the moment they came, not rushed."""
    p = Pacer(late_s=1.0)
    p.delay(0.0, now=0.0)
    p.delay(1.0, now=1.0)
    assert p.delay(1.1, now=6.0) == 0.0  # 4.9 s late: re-anchored here
    assert p.reanchors == 1
    assert p.delay(1.2, now=6.0) == pytest.approx(0.1)  # the rest of the burst is paced from the new origin


def test_small_lateness_is_caught_up_without_a_new_origin():
    p = Pacer(late_s=1.0)
    p.delay(0.0, now=0.0)
    assert p.delay(1.0, now=1.5) == 0.0  # half a second late: played at once, same origin
    assert p.delay(2.0, now=1.6) == pytest.approx(0.4)
    assert p.reanchors == 0


@pytest.mark.parametrize("jump", [-30.0, +30.0], ids=["backwards", "forwards"])
def test_a_timeline_break_re_anchors_at_once_instead_of_freezing(jump):
    """A looped file, an HLS discontinuity or a reconnect: the next timestamp is due now, not in 30 s."""
    p = Pacer(jump_s=3.0)
    p.delay(50.0, now=0.0)
    p.delay(50.5, now=0.5)
    assert p.delay(50.5 + jump, now=0.6) == 0.0
    assert p.reanchors == 1
    assert p.delay(50.5 + jump + 0.1, now=0.6) == pytest.approx(0.1)


def test_interleaved_audio_slightly_behind_the_video_is_due_at_once():
    """Audio and video are interleaved by decode time: a small step back is no discontinuity."""
    p = Pacer()
    p.delay(10.0, now=0.0)
    p.delay(10.5, now=0.5)
    assert p.delay(10.3, now=0.5) == 0.0
    assert p.reanchors == 0


# ---------------------------------------------------------------------- codec in the bytes

SC = b"\x00\x00\x00\x01"
H264_IDR_AU = SC + b"\x09\xf0" + SC + b"\x67\x64\x00\x1f" + SC + b"\x68\xeb\xe3" + SC + b"\x65\x88\x84\x00"
H264_P = SC + b"\x41\x9a\x02\x0c"
HEVC_IDR_AU = (
    SC + b"\x46\x01\x50" + SC + b"\x40\x01\x0c" + SC + b"\x42\x01\x01" + SC + b"\x44\x01\xc1" + SC + b"\x26\x01\xaf"
)
HEVC_P = SC + b"\x02\x01\xd0\x09"


@pytest.mark.parametrize(
    ("data", "codec"),
    [
        (H264_IDR_AU, "h264"),
        (H264_P, "h264"),
        (HEVC_IDR_AU, "hevc"),
        (HEVC_P, "hevc"),
        (b"\x00\x00\x00\x1c" + b"\x65" * 28, None),  # length-prefixed (MP4/FLV): not Annex B, not guessed
        (SC + b"\x06\x01\x05", None),  # an H.264 SEI alone reads as an HEVC TSA slice: undecided
        (b"\xff\xd8\xff\xe0", None),  # JPEG
        (b"", None),
    ],
    ids=["h264-idr", "h264-p", "hevc-idr", "hevc-trail", "avcc", "sei-only", "jpeg", "empty"],
)
def test_the_codec_of_an_access_unit_is_read_from_its_nal_headers(data, codec):
    assert annexb_codec(data) == codec


def test_a_picture_with_the_next_codecs_units_glued_on_tells_both():
    """At an H.264 -> HEVC switch FFmpeg's H.264 parser appends HEVC's parameter sets and IDR to the last picture."""
    assert annexb_codecs(H264_P + b"\xaa" * 3000 + HEVC_IDR_AU) == {"h264", "hevc"}
    assert annexb_codec(H264_P + HEVC_IDR_AU) is None  # not one codec
    assert annexb_codecs(memoryview(HEVC_IDR_AU + b"\xaa" * 400_000)) == {"hevc"}


# ---------------------------------------------------------------------- the playlist read


class _Playlists(http.server.BaseHTTPRequestHandler):
    bodies: dict[str, bytes] = {}

    def do_GET(self):
        body = self.bodies.get(self.path)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def playlists():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Playlists)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


MEDIA = b"#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:41\n" + b"#EXTINF:6.0,\ns.ts\n" * 3


def test_a_live_media_playlist_tells_its_target_duration_and_next_sequence(playlists):
    base = playlists
    _Playlists.bodies = {"/live.m3u8": MEDIA}
    info = read_playlist(base + "/live.m3u8")
    assert info is not None and info.target_s == 6.0 and not info.ended and info.next_sequence == 44


def test_a_master_playlist_is_read_through_its_first_variant(playlists):
    base = playlists
    master = (
        b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=800000\nv/480.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=400000\nv/240.m3u8\n"
    )
    _Playlists.bodies = {"/master.m3u8": master, "/v/480.m3u8": MEDIA.replace(b"DURATION:6", b"DURATION:10")}
    info = read_playlist(base + "/master.m3u8")
    assert info is not None and info.target_s == 10.0


def test_a_stopped_packagers_playlist_says_it_ended(playlists):
    base = playlists
    _Playlists.bodies = {"/live.m3u8": MEDIA + b"#EXT-X-ENDLIST\n"}
    info = read_playlist(base + "/live.m3u8")
    assert info is not None and info.ended


@pytest.mark.parametrize(
    "body", [b"", b"<html>not a playlist</html>", b"\x00\xff" * 1000], ids=["empty", "html", "binary"]
)
def test_what_is_not_a_playlist_leaves_it_unknown(playlists, body):
    base = playlists
    _Playlists.bodies = {"/x.m3u8": body}
    assert read_playlist(base + "/x.m3u8") is None


def test_a_missing_playlist_or_a_closed_port_leaves_it_unknown(playlists):
    base = playlists
    _Playlists.bodies = {}
    assert read_playlist(base + "/gone.m3u8") is None
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    assert read_playlist(f"http://127.0.0.1:{port}/x.m3u8") is None


def test_a_peer_trickling_bytes_cannot_hold_the_read_past_its_deadline():
    """One byte every 0.2 s, forever: the read gives up at its deadline (hang check, loose)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(1)
    stop = threading.Event()

    def trickle():
        conn, _ = srv.accept()
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n#EXTM3U\n")
        while not stop.wait(0.2):
            try:
                conn.sendall(b"#")
            except OSError:
                break
        conn.close()

    threading.Thread(target=trickle, daemon=True).start()
    t0 = time.monotonic()
    assert read_playlist(f"http://127.0.0.1:{srv.getsockname()[1]}/slow.m3u8", timeout_s=1.0) is None
    stop.set()
    srv.close()
    assert time.monotonic() - t0 < 5.0


def test_a_huge_playlist_is_cut_at_the_bound(playlists):
    base = playlists
    _Playlists.bodies = {"/big.m3u8": MEDIA + b"#EXT-X-COMMENT:" + b"x" * (2 * MAX_PLAYLIST_BYTES) + b"\n"}
    info = read_playlist(base + "/big.m3u8")
    assert info is not None and info.target_s == 6.0  # read up to the bound, the rest never downloaded


def _peer_serving_media():
    from tests.probes.slow_peers import SlowPeer

    peer = SlowPeer(period=0.2)
    peer.ok_body, peer.ok_type = MEDIA, "application/vnd.apple.mpegurl"
    return peer


def test_a_peer_trickling_its_headers_does_not_hold_the_playlist_read_up():
    """The deadline holds while the read is blocked in the header phase (one byte every 0.2 s, forever)."""
    with _peer_serving_media() as peer:
        t0 = time.monotonic()
        assert read_playlist(peer.url("/trickle-headers/live.m3u8"), timeout_s=1.0) is None
        assert time.monotonic() - t0 < 5.0  # hang check, loose: the bound is 1 s


def test_playlist_redirects_stay_on_the_camera_and_are_bounded():
    with _peer_serving_media() as peer:
        info = read_playlist(peer.url("/redirect/3"))  # same host and port: followed
        assert info is not None and info.target_s == 6.0
        assert read_playlist(peer.url("/loop")) is None  # more than 5 hops: refused
        with _peer_serving_media() as other:  # another port: refused, never contacted
            peer.elsewhere = other.url("/ok")
            assert read_playlist(peer.url("/elsewhere")) is None
            assert other.connections == 0


def test_a_redirect_to_the_cameras_default_port_spelled_out_is_followed(monkeypatch):
    """http://cam/ and http://cam:80/ are one origin (RFC 6454), as for the probes. The test cannot own
    port 80, so connections to it are routed to the peer's port: the URLs and the rule are the real ones."""
    create_connection = socket.create_connection

    def port_80_to_the_peer(address, *args, **kwargs):
        host, port = address
        return create_connection((host, peer.port if port == 80 else port), *args, **kwargs)

    monkeypatch.setattr(socket, "create_connection", port_80_to_the_peer)
    with _peer_serving_media() as peer:
        peer.elsewhere = "http://127.0.0.1:80/ok"
        info = read_playlist("http://127.0.0.1/elsewhere")  # implicit port 80 -> explicit :80
        assert info is not None and info.target_s == 6.0
        peer.elsewhere = "http://127.0.0.1/ok"
        info = read_playlist("http://127.0.0.1:80/elsewhere")  # and back
        assert info is not None and info.target_s == 6.0
        assert peer.paths == ["/elsewhere", "/ok", "/elsewhere", "/ok"]
        peer.elsewhere = "http://127.0.0.1:8080/ok"  # another port is still another host
        assert read_playlist("http://127.0.0.1/elsewhere") is None
        assert peer.paths[-1] == "/elsewhere"


@pytest.mark.parametrize(
    ("current", "location", "hops"),
    [
        ("http://cam/live.m3u8", "http://cam:80/a.m3u8", 0),
        ("http://cam:80/live.m3u8", "http://cam/a.m3u8", 0),
        ("https://cam/live.m3u8", "https://cam:443/a.m3u8", 0),
        ("https://cam/live.m3u8", "http://cam:443/a.m3u8", 0),
        ("http://cam/live.m3u8", "https://cam/a.m3u8", 0),
        ("http://cam/live.m3u8", "http://cam:8080/a.m3u8", 0),
        ("http://CAM/live.m3u8", "HTTP://cam/a.m3u8", 0),
        ("http://cam/live.m3u8", "/other/a.m3u8", 0),
        ("http://cam/live.m3u8", "  a.m3u8 ", 4),
        ("http://cam/live.m3u8", "a.m3u8", 5),
        ("http://cam/live.m3u8", "", 0),
        ("http://cam/live.m3u8", None, 0),
        ("http://cam/live.m3u8", "//elsewhere/a.m3u8", 0),
        ("http://user:pw@cam/live.m3u8", "http://cam/a.m3u8", 0),
    ],
)
def test_the_playlist_read_follows_exactly_the_redirects_the_probes_follow(current, location, hops):
    """The pipeline sits below the probes and cannot import them: it follows the one rule (app.redirects) too."""
    expected, refused = probes_http.redirect_target(current, location, hops)
    try:
        got = playlist.redirect_target(current, location, hops)
    except ValueError:
        got = ""
    assert (got, bool(got)) == (expected, not refused)
    assert playlist.REDIRECT_STATUSES == probes_http._REDIRECTS and playlist.MAX_REDIRECTS == probes_http.MAX_REDIRECTS
