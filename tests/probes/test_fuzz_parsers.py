"""Property-based fuzzing (hypothesis) of every parser a device's answer goes through, plus the acceptance
run's crashing inputs as explicit regression cases.

Properties: the parsers never raise anything but their own "malformed ..." error (``JsonError``,
``PlaylistError``), whose message is plain words (no exception class name, one line, encodable as UTF-8);
what they return is well-formed (texts are ``str``, numbers finite floats or absent). The runs are
deterministic (``derandomize=True``: the same examples on every machine, no example database) with a fixed
budget of examples per test, so CI time is bounded and a failure reproduces.
"""

from __future__ import annotations

import json
import math
import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from app.pipeline.playlist import _first_variant, playlist_info
from probes.analytics_api import SKIP_REASONS, parse_stream_detail, parse_stream_list
from probes.hls import PlaylistError, analyse_media, check_ladder, parse_ladder, parse_playlist
from probes.http import HttpResult, JsonError, loads_bounded, parse_json
from probes.json_device import PRESETS, evaluate, to_number

FUZZ = settings(
    derandomize=True,
    database=None,
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
_TYPE_NAME = re.compile(r"\b[A-Z][A-Za-z]*(Error|Exception)\b|Traceback|NoneType")


def assert_words(msg: str) -> None:
    """An error for the operator: non-empty words, one line, no exception class names, encodable."""
    assert isinstance(msg, str) and msg.strip(), repr(msg)
    assert "\n" not in msg, repr(msg)
    assert not _TYPE_NAME.search(msg), msg
    msg.encode("utf-8")


# --------------------------------------------------------------------------- JSON documents

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=10**300, max_value=10**420)  # beyond a float
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=20)
    | st.sampled_from(["RUNNING", "", "UNKNOWN", "true", "false", "80%", "72h", "1e400", "\x00", "\ud800"])
)
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=25,
)
KEYS = ["streams", "stream_id", "stream_node_num", "stream_name", "active", "stream_stats", "state", "status",
        "pipelines", "fps", "frame_width", "frame_height", "last_error_msg", "streaming", "bitrate", "hdd",
        "uptime", "node_id"]  # fmt: skip
# documents shaped like the devices' (the keys they read), with values of any type at any level
shaped = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=6), inner, max_size=6)
    ),
    max_leaves=30,
)


def _dumps(doc) -> bytes:
    return json.dumps(doc, allow_nan=True).encode("utf-8", "surrogatepass")


body_bytes = (
    shaped.map(_dumps)
    | st.binary(max_size=200)
    | st.tuples(shaped.map(_dumps), st.integers(0, 400), st.binary(max_size=8)).map(
        lambda t: t[0][: t[1]] + t[2] + t[0][t[1] :]
    )  # a valid document with bytes spliced in
    | st.integers(1, 3000).map(lambda n: b"[" * n + b"]" * n)
    | st.integers(1, 3000).map(lambda n: b'{"a":' * n + b"1" + b"}" * n)
)


def _result(body: bytes) -> HttpResult:
    return HttpResult("http://127.0.0.1/x", 200, body, 0.0)


@FUZZ
@given(body_bytes)
def test_json_parsing_never_raises_anything_but_words(body):
    try:
        doc = parse_json(_result(body))
    except JsonError as e:
        assert_words(str(e))
        return
    json.dumps(doc, allow_nan=True).encode("utf-8")  # every string of the result encodes


def _check_listing(doc) -> None:
    try:
        listing = parse_stream_list(doc, max_streams=3)
    except JsonError as e:
        assert_words(str(e))
        return
    assert len(listing.streams) <= 3 and listing.over_limit == max(0, listing.listed - 3)
    for sid, node, name in listing.streams:
        assert all(isinstance(x, str) for x in (sid, node, name)) and sid and len(sid) <= 256
        (sid + node + name).encode("utf-8")
    for skip in listing.skips:
        assert skip.reason in SKIP_REASONS
        assert_words(skip.words)


def _check_detail(doc) -> None:
    try:
        d = parse_stream_detail(doc)
    except JsonError as e:
        assert_words(str(e))
        return
    assert isinstance(d["state"], str) and isinstance(d["active"], bool) and isinstance(d["last_error_msg"], str)
    for k in ("fps", "frame_width", "frame_height"):
        assert d[k] is None or (isinstance(d[k], float) and math.isfinite(d[k]))


@FUZZ
@given(shaped)
def test_analytics_parsers_never_raise_on_any_document(doc):
    _check_listing(doc)
    _check_listing({"streams": doc})
    _check_listing({"streams": [doc, {"stream_id": doc, "stream_node_num": doc, "stream_name": doc}]})
    _check_detail(doc)
    _check_detail({"active": doc, "stream_stats": doc, "status": {"pipelines": [doc]}})
    _check_detail({"stream_stats": {"state": doc, "fps": doc}, "status": doc})


config_text = st.text(st.characters(blacklist_categories=("Cc", "Cs")), max_size=12)  # operator-written names


@FUZZ
@given(shaped, st.dictionaries(config_text, config_text, max_size=3))
def test_json_device_evaluation_never_raises(doc, fields):
    for preset in PRESETS.values():
        metrics, labels, problems, _conditions, state = evaluate(doc, preset, fields)
        assert all(isinstance(v, float) for v in metrics.values())
        assert all(isinstance(v, str) for v in labels.values()) and isinstance(state, str)
        for p in problems:
            # the operator's own field names and paths are quoted in the words ("AError: not in the response"):
            # only the rest of the message must be free of exception names
            for name in sorted((*fields, *fields.values()), key=len, reverse=True):
                p = p.replace(name, "field") if name.strip() else p
            assert_words(p)
    assert to_number(doc) is None or isinstance(to_number(doc), float)


# --------------------------------------------------------------------------- playlists

numbers = st.sampled_from(["6", "6.006", "0", "-1", "1e400", "nan", "inf", "9" * 400, "1" * 5000, "", "x", "١٢"])
texts = st.text(max_size=10) | numbers | st.sampled_from(['"a"', "http://[::1/x", "http://h:abc/v", "a@b", "0x1"])
tag_names = st.sampled_from([
    "#EXT-X-VERSION", "#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE", "#EXT-X-DISCONTINUITY-SEQUENCE",
    "#EXTINF", "#EXT-X-STREAM-INF", "#EXT-X-MEDIA", "#EXT-X-KEY", "#EXT-X-MAP", "#EXT-X-BYTERANGE",
    "#EXT-X-PROGRAM-DATE-TIME", "#EXT-X-DATERANGE", "#EXT-X-PART", "#EXT-X-PART-INF", "#EXT-X-SERVER-CONTROL",
    "#EXT-X-SKIP", "#EXT-X-PRELOAD-HINT", "#EXT-X-RENDITION-REPORT", "#EXT-X-I-FRAME-STREAM-INF",
    "#EXT-X-SESSION-DATA", "#EXT-X-SESSION-KEY", "#EXT-X-START", "#EXT-X-CUE-OUT", "#EXT-X-PLAYLIST-TYPE",
    "#EXT-X-CONTENT-STEERING", "#EXT-X-ENDLIST", "#EXT-X-DISCONTINUITY", "#EXT-X-GAP", "#EXT-X-BITRATE",
])  # fmt: skip
attr_names = st.sampled_from(["BANDWIDTH", "RESOLUTION", "CODECS", "URI", "METHOD", "IV", "TYPE", "GROUP-ID", "NAME",
                              "DURATION", "LAST-MSN", "SKIPPED-SEGMENTS", "TIME-OFFSET", "ID", "X"])  # fmt: skip
attr_lists = st.lists(st.tuples(attr_names, texts), max_size=4).map(lambda kv: ",".join(f"{k}={v}" for k, v in kv))
tag_lines = st.tuples(tag_names, st.one_of(texts, attr_lists)).map(lambda t: f"{t[0]}:{t[1]}")
uri_lines = st.sampled_from(["seg1.ts", "v/720.m3u8", "http://[::1/x.ts", "http://h:abc/v.m3u8", "", "//", "?"])


def _media(value, uris, extra):
    segment = st.tuples(value(["6", "6.0", "5.9", "2"]), uris, extra).map(lambda t: [*t[2], f"#EXTINF:{t[0]},", t[1]])
    return st.tuples(
        value(["6", "10"]),
        value(["0", "17", "123456789012"]),
        st.lists(segment, min_size=1, max_size=5),
        st.booleans(),
        extra,
    ).map(
        lambda t: "\n".join(
            [
                "#EXTM3U",
                f"#EXT-X-TARGETDURATION:{t[0]}",
                f"#EXT-X-MEDIA-SEQUENCE:{t[1]}",
                *t[4],
                *(x for seg in t[2] for x in seg),
                *(["#EXT-X-ENDLIST"] if t[3] else []),
            ]
        )
    )


def _master(value, uris, extra):
    variant = st.tuples(
        value(["800000", "3000000", "0"]),
        value(["1280x720", "640x360"]),
        st.sampled_from(['"avc1.64001f,mp4a.40.2"', '"hvc1"', '""', "avc1"]),
        uris,
        extra,
    ).map(lambda t: [*t[4], f"#EXT-X-STREAM-INF:BANDWIDTH={t[0]},RESOLUTION={t[1]},CODECS={t[2]}", t[3]])
    return st.lists(variant, min_size=1, max_size=5).map(lambda vs: "\n".join(["#EXTM3U", *(x for v in vs for x in v)]))


def _good(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(values)


def _any(values: list[str]) -> st.SearchStrategy[str]:
    return st.sampled_from(values) | numbers | st.sampled_from(["1280", "ax b", "99999999x1", "-5"])


_no_extra = st.just([])
_extra = st.lists(tag_lines, max_size=2)
_good_uris = st.sampled_from(["seg1.ts", "/abs/s.ts", "http://127.0.0.1:8/s.ts", "720/index.m3u8"])
# well-formed playlists (they reach the checks after the parser), ones with hostile values, URIs or extra
# tags, and text that is hardly a playlist at all
playlists = (
    _media(_good, _good_uris, _no_extra)
    | _master(_good, _good_uris, _no_extra)
    | _media(_good, _good_uris | uri_lines, _extra)
    | _master(_good, _good_uris | uri_lines, _extra)
    | _media(_any, _good_uris | uri_lines, _no_extra)
    | _master(_any, _good_uris | uri_lines, _no_extra)
    | st.lists(tag_lines | uri_lines | st.text(max_size=30), max_size=12).map(lambda ls: "\n".join(["#EXTM3U", *ls]))
    | st.text(max_size=200)
    | st.binary(max_size=200)
)  # fmt: skip


def _exercise_playlist(text) -> None:
    try:
        pl = parse_playlist(text, "http://127.0.0.1/live/master.m3u8")
        if pl.is_variant:
            ladder = parse_ladder(pl)
            for r in ladder:
                assert isinstance(r.name, str) and isinstance(r.uri, str)
                float(r.bandwidth)  # a metric
                if r.error:
                    assert_words(r.error)
            for p in check_ladder(ladder, ["1280x720"], ["avc1"], {"1280x720": (1000.0, 4000.0)}):
                assert_words(p)
        else:
            state, f = analyse_media(None, pl, 0.0)
            state, f = analyse_media(state, pl, 100.0)
            assert math.isfinite(f.target_duration) and math.isfinite(f.newest_duration)
            float(state.media_sequence)
            for p in f.problems:
                assert_words(p)
    except PlaylistError as e:
        assert_words(str(e))


@FUZZ
@given(playlists)
def test_playlist_parsing_never_raises_anything_but_words(text):
    _exercise_playlist(text)


@FUZZ
@given(playlists)
def test_the_pipelines_playlist_reader_never_raises(text):
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    info = playlist_info(text)
    assert info.target_s is None or 0 < info.target_s <= 60
    assert isinstance(info.next_sequence, int) and isinstance(info.ended, bool)
    variant = _first_variant(text)
    assert variant is None or isinstance(variant, str)


# --------------------------------------------------------------------------- the acceptance run's cases


@pytest.mark.parametrize(
    "body,words",
    [
        (b"[" * 5000 + b"]" * 5000, "malformed JSON: nested deeper than 64 levels"),
        (b'{"a":' * 5000 + b"1" + b"}" * 5000, "malformed JSON: nested deeper than 64 levels"),
        (b"1" * 5000, "malformed JSON: a number with more than 4300 digits"),
        (b'{"a": "x\x00y"', "invalid JSON:"),
        (b'{"a": 1}\x00', "invalid JSON: Extra data at line 1, column 9"),
        (b"\xff\xfe\xfa", "invalid JSON: not UTF-8 text"),
        (b"<html>login</html>", "HTML page, not JSON"),
        (b"   ", "empty response body"),
    ],
)
def test_hostile_json_bodies_are_malformed_in_words(body, words):
    with pytest.raises(JsonError) as e:
        parse_json(_result(body))
    assert str(e.value).startswith(words), str(e.value)
    assert_words(str(e.value))


def test_64_levels_parse_and_brackets_inside_strings_do_not_count():
    assert loads_bounded('{"a":' * 64 + "1" + "}" * 64)["a"]["a"]
    deep_text = json.dumps({"msg": "[{" * 500, "esc": '\\"[[[[' * 100})
    assert loads_bounded(deep_text)["msg"] == "[{" * 500


def test_huge_integers_never_overflow_the_readers():
    big = 10**400
    d = parse_stream_detail({"active": big, "stream_stats": {"state": "RUNNING", "fps": big, "frame_width": -big}})
    assert d["active"] is True and d["fps"] is None and d["frame_width"] is None
    metrics, _, problems, _, _ = evaluate({"hdd": big}, PRESETS["storage_node"], {})
    assert "hdd_used_percent" not in metrics
    assert "hdd_used_percent: hdd is a number too large for a metric (401 digits)" in problems
    listing = parse_stream_list({"streams": [{"stream_id": big, "stream_node_num": 0}]})
    assert listing.streams == [] and listing.skips[0].words == "entry 0: stream_id is longer than 256 characters"


def test_lone_surrogates_become_encodable_text():
    doc = loads_bounded(b'{"streams": [{"stream_id": "a\\ud800", "stream_node_num": 0, "stream_name": "\\udfff"}]}')
    [(sid, _node, name)] = parse_stream_list(doc).streams
    assert sid == "a?" and name == "?"


WRONG = [None, True, False, 0, -1, 1.5, 10**400, float("inf"), "", "x", [], [1], {}, {"k": "v"}]
DETAIL = {
    "active": True,
    "stream_stats": {"fps": 15, "frame_height": 646, "frame_width": 1146, "last_error_msg": "ok", "state": "RUNNING"},
    "status": {"pipelines": [{"state": "RUNNING"}]},
}


def _paths(doc, prefix=()):
    yield prefix
    if isinstance(doc, dict):
        for k, v in doc.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            yield from _paths(v, (*prefix, i))


def _replaced(doc, path, value):
    if not path:
        return value
    doc = json.loads(json.dumps(doc))
    cur = doc
    for p in path[:-1]:
        cur = cur[p]
    cur[path[-1]] = value
    return doc


@pytest.mark.parametrize("path", list(_paths(DETAIL)), ids=lambda p: ".".join(map(str, p)) or "root")
def test_wrong_types_at_every_level_of_a_detail_are_not_a_crash(path):
    for v in WRONG:
        _check_detail(_replaced(DETAIL, path, v))


LISTING = {"streams": [{"stream_id": "c73a1992f67961d1", "stream_node_num": 0, "stream_name": "LOKASI-A"}]}


@pytest.mark.parametrize("path", list(_paths(LISTING)), ids=lambda p: ".".join(map(str, p)) or "root")
def test_wrong_types_at_every_level_of_a_listing_are_not_a_crash(path):
    for v in WRONG:
        _check_listing(_replaced(LISTING, path, v))


@pytest.mark.parametrize(
    "text,words",
    [
        (
            "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=" + "9" * 400 + "\nv.m3u8",
            "malformed playlist: a number too large in #EXT-X-STREAM-INF (line 2; at most 20 digits, RFC 8216 4.2)",
        ),
        (
            "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:" + "1" * 5000 + "\n#EXTINF:6,\na.ts",
            "malformed playlist: a number too large in #EXT-X-MEDIA-SEQUENCE (line 3;",
        ),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:abc\n#EXTINF:6,\na.ts",
         "malformed playlist: not a number: 'abc' in #EXT-X-TARGETDURATION (line 2)"),
        ('#EXTM3U\n#EXT-X-KEY:URI="k"\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\na.ts',
         "malformed playlist: a required attribute missing (METHOD) in #EXT-X-KEY (line 2)"),
        ("#EXTM3U\n#EXT-X-PROGRAM-DATE-TIME:2020-13-01T00:00:00Z\n#EXTINF:6,\na.ts",
         "malformed playlist: not a valid date and time in #EXT-X-PROGRAM-DATE-TIME (line 2)"),
        ("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:6,\nseg\x00.ts", "not an HLS playlist: binary data"),
        (b"#EXTM3U\n#EXTINF:6,\n\xff.ts", "not an HLS playlist: not UTF-8 text"),
    ],
)  # fmt: skip
def test_hostile_playlists_are_malformed_in_words(text, words):
    with pytest.raises(PlaylistError) as e:
        parse_playlist(text, "http://127.0.0.1/x.m3u8")
    assert str(e.value).startswith(words), str(e.value)
    assert_words(str(e.value))


def test_a_bad_ipv6_variant_uri_is_that_variants_problem_in_words():
    text = "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000\nhttp://[::1/v.m3u8\n#EXT-X-STREAM-INF:BANDWIDTH=1000\nok.m3u8"
    ladder = parse_ladder(parse_playlist(text, "http://127.0.0.1/live/master.m3u8"))
    bad, good = ladder
    assert bad.error == "variant URI 'http://[::1/v.m3u8' is not a valid URL: a bad IPv6 address" and not bad.uri
    assert good.uri == "http://127.0.0.1/live/ok.m3u8" and not good.error


def test_a_huge_extinf_or_target_is_a_finding_not_a_crash():
    pl = parse_playlist("#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXTINF:1e400,\na.ts\n#EXTINF:nan,\nb.ts\n")
    _state, f = analyse_media(None, pl, 0.0)
    assert f.extinf_violations == 2 and f.newest_duration == 0.0
    info = playlist_info("#EXTM3U\n#EXT-X-TARGETDURATION:99999999999\n#EXT-X-MEDIA-SEQUENCE:" + "9" * 400 + "\n")
    assert info.target_s is None and info.next_sequence == 0  # neither believed nor converted


# --------------------------------------------------------------------------- the same, through the probes


def test_a_device_sending_5000_levels_is_malformed_json_in_words(static_http):
    from probes.json_device import JsonDeviceProbe

    url = static_http.put("/status", b'{"hdd":' * 5000 + b"1" + b"}" * 5000, ctype="application/json")
    probe = JsonDeviceProbe("node", url, preset="storage_node", timeout_s=5)
    try:
        [r] = probe.run()
    finally:
        probe.close()
    assert not r.ok and r.state == "API_ERROR" and r.error == "malformed JSON: nested deeper than 64 levels"


def test_an_analytics_server_sending_hostile_json_gets_words_per_request(static_http):
    from probes.analytics_api import AnalyticsApiProbe

    listing = {"streams": [{"stream_id": f"s{i}", "stream_node_num": 0, "stream_name": "A"} for i in range(3)]}
    static_http.put("/streams", json.dumps(listing), ctype="application/json")
    static_http.put("/streams/0/s0", b'{"active": true, "stream_stats": ' * 3000 + b"{}" + b"}" * 3000)
    big = "9" * 400
    static_http.put("/streams/0/s1", f'{{"active": {big}, "stream_stats": {{"state": "RUNNING", "fps": {big}}}}}')
    static_http.put("/streams/0/s2", '{"active": true, "stream_stats": {"state": "RUN\\u0000NING\\ud800"}}')
    probe = AnalyticsApiProbe(static_http_base(static_http), parallelism=3, timeout_s=5)
    try:
        server, *streams = probe.run()
    finally:
        probe.close()
    by_id = {r.labels["stream_id"]: r for r in streams}
    assert by_id["s0"].state == "API_ERROR" and by_id["s0"].error == "malformed JSON: nested deeper than 64 levels"
    assert by_id["s1"].state == "RUNNING" and by_id["s1"].metrics["up"] == 1.0 and "fps" not in by_id["s1"].metrics
    assert by_id["s2"].state == "RUN\x00NING?" and by_id["s2"].metrics["up"] == 0.0
    assert server.state == "DEGRADED" and server.error == "1 of 3 stream details failed"


def test_an_analytics_list_of_null_streams_says_so_once(static_http):
    from probes.analytics_api import AnalyticsApiProbe

    static_http.put("/streams", '{"streams": null}', ctype="application/json")
    probe = AnalyticsApiProbe(static_http_base(static_http), timeout_s=5)
    try:
        [server] = probe.run()
    finally:
        probe.close()
    assert server.error == "/streams: expected a list of streams, got null"  # once, no "/streams: /streams:"


def test_an_hls_master_with_a_bad_ipv6_variant_reports_that_variant(static_http):
    from probes.hls import HlsProbe

    media = "#EXTM3U\n#EXT-X-TARGETDURATION:6\n#EXT-X-MEDIA-SEQUENCE:1\n#EXTINF:6.0,\nseg.ts\n"
    static_http.put("/live/ok.m3u8", media)
    static_http.put("/live/seg.ts", b"\x47" * 1000, ctype="video/mp2t")
    url = static_http.put(
        "/live/master.m3u8",
        "#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720\nhttp://[::1/v.m3u8\n"
        "#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360\nok.m3u8\n",
    )
    probe = HlsProbe("cam", url, timeout_s=5)
    try:
        master, bad, good = probe.run()
    finally:
        probe.close()
    assert master.ok and master.state == "INVALID"
    assert bad.state == "INVALID" and bad.error == (
        "playlist: variant URI 'http://[::1/v.m3u8' is not a valid URL: a bad IPv6 address"
    )
    assert good.ok and good.state == "OK" and good.metrics["segment_bytes"] == 1000
    assert "1280x720@3000k: playlist: variant URI" in master.error


def static_http_base(srv) -> str:
    return f"http://127.0.0.1:{srv.port}"
