"""HLS probe: pure playlist checks, a catalogue of bad playlists (each with its clear state), the lab ladder."""

from __future__ import annotations

import time

import pytest

from probes.hls import (
    HlsProbe,
    PlaylistError,
    analyse_media,
    check_ladder,
    parse_ladder,
    parse_playlist,
)

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=1400000,RESOLUTION=854x480,CODECS="avc1.64001e"
480p/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e"
360p/index.m3u8
"""


def media(seq: int, n: int = 4, dur: float = 2.0, td: int = 2, disc_at: int | None = None, end: bool = False) -> str:
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{td}", f"#EXT-X-MEDIA-SEQUENCE:{seq}"]
    for i in range(n):
        if disc_at == i:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{dur:.3f},", f"seg_{seq + i:05d}.ts"]
    if end:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- pure


def test_ladder_parsed_and_checked_against_expectation():
    ladder = parse_ladder(parse_playlist(MASTER, "http://127.0.0.1/live/master.m3u8"))
    assert [r.resolution for r in ladder] == ["854x480", "640x360"]
    assert ladder[0].bandwidth == 1_400_000 and ladder[0].codecs == "avc1.64001e"
    assert ladder[0].uri == "http://127.0.0.1/live/480p/index.m3u8"
    assert [r.name for r in ladder] == ["854x480@1400k", "640x360@900k"]
    assert check_ladder(ladder, ["854x480", "640x360"]) == []
    problems = check_ladder(ladder, ["1920x1080", "640x360"])
    assert problems == ["expected rendition 1920x1080 is missing from the ladder"]


SAME_RES = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
hi/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1800000,RESOLUTION=1280x720,CODECS="avc1.64001f"
lo/index.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1800000,RESOLUTION=1280x720
lo2/index.m3u8
"""


def test_renditions_of_one_resolution_get_unique_names():
    ladder = parse_ladder(parse_playlist(SAME_RES, "http://127.0.0.1/ch/master.m3u8"))
    assert [r.name for r in ladder] == ["1280x720@3000k", "1280x720@1800k", "1280x720@1800k#2"]
    assert len({r.name for r in ladder}) == 3  # one metric series per rung


def test_codecs_and_bandwidth_checked_against_the_channel():
    ladder = parse_ladder(parse_playlist(SAME_RES, "http://127.0.0.1/ch/master.m3u8"))
    assert check_ladder(ladder, [], ["avc1"], {"1280x720": (1500, 3500)}) == [
        "rendition 1280x720@1800k#2 declares no CODECS (expected avc1)"]  # fmt: skip
    problems = check_ladder(ladder, ["1280x720"], ["avc1", "mp4a"], {"1280x720": (2000, 3500), "640x360": (500, 900)})
    assert problems == [
        "expected rendition 640x360 is missing from the ladder",
        "rendition 1280x720@1800k has CODECS 'avc1.64001f', expected mp4a too",
        "rendition 1280x720@1800k advertises 1800 kb/s, expected 2000-3500 kb/s",
        "rendition 1280x720@1800k#2 declares no CODECS (expected avc1, mp4a)",
        "rendition 1280x720@1800k#2 advertises 1800 kb/s, expected 2000-3500 kb/s",
    ]
    # a full codec string must match exactly; a family matches any profile of it
    assert check_ladder(ladder[:1], [], ["avc1.64001F", "mp4a.40.2"]) == []
    assert check_ladder(ladder[:1], [], ["avc1.640028"]) == [
        "rendition 1280x720@3000k has CODECS 'avc1.64001f,mp4a.40.2', expected avc1.640028 too"]  # fmt: skip
    assert check_ladder(ladder[:1], [], ["hvc1"])[0].endswith("expected hvc1 too")


def test_channel_expectations_in_the_config_are_validated_with_words():
    from pydantic import ValidationError

    from app.config import CameraConfig

    url = "http://127.0.0.1/ch/master.m3u8"
    cam = CameraConfig(name="Ch", url=url, expected_renditions=["1280x720"], expected_codecs=["avc1", "mp4a.40.2"],
                       expected_bandwidth_kbps={"1280x720": [2000, 3500]})  # fmt: skip
    assert cam.expected_bandwidth_kbps == {"1280x720": (2000.0, 3500.0)}
    bad = [
        ({"expected_renditions": ["720p"]}, "'720p' is not a resolution like '1280x720'"),
        ({"expected_codecs": ["avc1, mp4a"]}, "'avc1, mp4a' is not a codec name"),
        ({"expected_bandwidth_kbps": {"1280x720": [3500, 2000]}}, r"must be \[min, max\] kb/s"),
        ({"expected_bandwidth_kbps": {"hd": [1, 2]}}, "'hd' is not a resolution"),
    ]
    for fields, words in bad:
        with pytest.raises(ValidationError, match=words):
            CameraConfig(name="Ch", url=url, **fields)


def test_media_sequence_continuity_stale_and_discontinuity():
    s1, f1 = analyse_media(None, parse_playlist(media(10)), now=100.0)
    assert not f1.problems and f1.target_duration == 2.0
    s2, f2 = analyse_media(s1, parse_playlist(media(11)), now=102.0)  # advanced by one: fine
    assert not f2.problems and s2.changed_at == 102.0
    s3, f3 = analyse_media(s2, parse_playlist(media(11)), now=103.5)  # unchanged for 1.5 s < 3 s
    assert not f3.stale
    s4, f4 = analyse_media(s3, parse_playlist(media(11)), now=105.5)  # unchanged 3.5 s > 1.5 x 2 s
    assert f4.stale and "not updated" in f4.problems[0]
    s5, f5 = analyse_media(s4, parse_playlist(media(5)), now=106.0)  # went backwards
    assert f5.sequence_error and s5.sequence_errors_total == 1
    s6, f6 = analyse_media(s5, parse_playlist(media(6, disc_at=3)), now=108.0)
    assert f6.new_discontinuities == 1 and s6.discontinuities_total == 1
    _, f7 = analyse_media(s6, parse_playlist(media(6, end=True)), now=200.0)  # VOD/ended: never stale
    assert not f7.stale


def test_extinf_outside_tolerance_counted():
    _, f = analyse_media(None, parse_playlist(media(1, dur=2.6, td=2)), now=0.0)
    assert f.extinf_violations == 4 and "EXTINF" in f.problems[0]
    _, ok = analyse_media(None, parse_playlist(media(1, dur=2.1, td=2)), now=0.0)  # within 10 %
    assert ok.extinf_violations == 0


BAD_PLAYLISTS = {
    "garbage": (b"\x89PNG\r\n\x1a\n\x00\x00binary", "binary data"),
    "html": (b"<html><body>502 Bad Gateway</body></html>", "no #EXTM3U header"),
    "empty": (b"", "empty playlist"),
    "header_only": (b"#EXTM3U\n", "no variants and no segments"),
    "bad_bandwidth": (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=abc\nx.m3u8\n", "malformed playlist"),
    "bad_extinf": (b"#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXTINF:abc,\nseg.ts\n", "malformed playlist"),
    "bad_target": (b"#EXTM3U\n#EXT-X-TARGETDURATION:zz\n#EXTINF:2,\nseg.ts\n", "malformed playlist"),
    "not_utf8": (b"#EXTM3U\n\xff\xfe\xfa", "not UTF-8"),
    "huge": (b"#EXTM3U\n" + b"#EXTINF:2,\nseg.ts\n" * 200_000, "too large"),
}


@pytest.mark.parametrize("name", sorted(BAD_PLAYLISTS))
def test_bad_playlist_gives_words_not_a_crash(name):
    body, words = BAD_PLAYLISTS[name]
    with pytest.raises(PlaylistError, match=words):
        parse_playlist(body, "http://127.0.0.1/x.m3u8")


def test_media_playlist_without_target_duration_is_an_error():
    with pytest.raises(PlaylistError, match="TARGETDURATION"):
        analyse_media(None, parse_playlist("#EXTM3U\n#EXTINF:2,\nseg.ts\n"), now=0.0)


# ----------------------------------------------------------------------------- over HTTP (loopback)


@pytest.mark.parametrize(
    "name,status,state,words",
    [
        ("garbage", 200, "INVALID", "binary data"),
        ("html", 200, "INVALID", "no #EXTM3U header"),
        ("truncated", 200, "INVALID", "no variants and no segments"),
        ("huge", 200, "HTTP_ERROR", "too large"),
        ("missing", 404, "HTTP_ERROR", "HTTP 404"),
        ("error", 500, "HTTP_ERROR", "HTTP 500"),
    ],
)
def test_bad_master_over_http_gives_clear_state(static_http, name, status, state, words):
    bodies = {"garbage": BAD_PLAYLISTS["garbage"][0], "html": BAD_PLAYLISTS["html"][0],
              "truncated": b"#EXTM3U\n#EXT-X-STREAM-INF:BANDW", "huge": b"#EXTM3U\n" + b"#" * 3_000_000,
              "missing": b"nope", "error": b"oops"}  # fmt: skip
    url = static_http.put(f"/{name}/master.m3u8", bodies[name], status=status)
    probe = HlsProbe("cam", url, timeout_s=5)
    [r] = probe.run()
    assert not r.ok and r.state == state and words in r.error
    assert r.metrics["playlist_valid"] == 0.0 and r.metrics["validation_errors_total"] == 1
    assert r.conditions == ("HLS_MASTER_ERROR",)  # the rules turn it into HlsMasterError


def test_unreachable_and_slow_servers(static_http):
    from tests.lab import free_port

    [r] = HlsProbe("cam", f"http://127.0.0.1:{free_port()}/master.m3u8", timeout_s=2).run()
    assert r.state == "UNREACHABLE" and "refused" in r.error and r.conditions == ("HLS_MASTER_ERROR",)
    url = static_http.put("/slow/master.m3u8", MASTER, delay=3.0)
    [r] = HlsProbe("cam", url, timeout_s=0.5).run()
    assert r.state == "UNREACHABLE" and "no answer within" in r.error


def test_broken_rendition_and_missing_segment(static_http):
    static_http.put("/live/master.m3u8", MASTER)
    static_http.put("/live/480p/index.m3u8", media(3))
    static_http.put("/live/360p/index.m3u8", b"#EXTM3U\n#EXTINF:abc,\nseg.ts\n")
    static_http.put("/live/480p/seg_00006.ts", b"\x47" * 188 * 100, ctype="video/mp2t")
    probe = HlsProbe("cam", f"http://127.0.0.1:{static_http.port}/live/master.m3u8",
                     expected_renditions=["854x480", "640x360", "1280x720"], timeout_s=5)  # fmt: skip
    master, r480, r360 = probe.run()
    assert master.ok and master.state == "INVALID" and master.metrics["abr_rung_count"] == 2
    assert "1280x720 is missing" in master.error and "640x360@900k: playlist: malformed playlist" in master.error
    assert r480.ok and r480.metrics["segment_http_status"] == 200 and r480.metrics["segment_bytes"] == 18800
    assert not r360.ok and r360.state == "INVALID"
    static_http.routes.pop("/live/480p/seg_00006.ts")
    _, r480b, _ = probe.run()
    assert r480b.metrics["segment_http_status"] == 404 and "HLS_SEGMENT_ERROR" in r480b.conditions


@pytest.mark.lab
def test_lab_ladder_is_valid_and_advances(hls_lab):
    probe = HlsProbe("ladder", hls_lab.master_url, expected_renditions=["854x480", "640x360", "426x240"])
    first = probe.run()
    master, *rungs = first
    assert master.ok and master.state == "OK", master.error
    assert master.metrics["abr_rung_count"] == 3 and master.metrics["playlist_valid"] == 1.0
    assert sorted(r.labels["resolution"] for r in rungs) == ["426x240", "640x360", "854x480"]
    for r in rungs:
        assert r.ok and r.metrics["target_duration_s"] == 2
        assert r.metrics["segment_http_status"] == 200 and r.metrics["segment_bytes"] > 1000
        assert r.metrics["segment_download_s"] > 0 and r.metrics["stale"] == 0.0
    seq0 = {r.target: r.metrics["media_sequence"] for r in rungs}
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # the live ladder keeps advancing: continuity holds across polls
        time.sleep(1.0)
        _, *rungs = probe.run()
        if all(r.metrics["media_sequence"] > seq0[r.target] for r in rungs):
            break
    assert all(r.metrics["media_sequence"] > seq0[r.target] for r in rungs)
    assert all(r.metrics["sequence_errors_total"] == 0 and not r.conditions for r in rungs)


@pytest.mark.lab
def test_lab_ladder_missing_expected_rung(hls_lab):
    master, *_ = HlsProbe("ladder", hls_lab.master_url, expected_renditions=["1920x1080"]).run()
    assert master.state == "INVALID" and "1920x1080 is missing" in master.error
    assert "HLS_INVALID" in master.conditions
