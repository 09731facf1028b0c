"""Analytics API parity: Vigil's analytics probe + collector against the monitored system's own exporter.

Both read the same real loopback server (``tests.lab.JsonDeviceServer``); the exporter is its own code
(``tests/probes/stream_monitor_reference.py``). Where the exporter exports a series, Vigil exports the same
series with the same labels and value: numeric ids, ``active`` by Python truthiness, an empty state kept
empty, the pipeline fallback only for "UNKNOWN". What the exporter skips silently Vigil skips too, says
why per entry and counts in ``vigil_analytics_skipped_entries``. Where the exporter crashes its whole cycle
(an entry that is not an object, ``"streams": null``), Vigil reports the server in words and the other
servers carry on.
"""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from app.metrics.collector import VigilCollector
from probes.analytics_api import AnalyticsApiProbe
from probes.base import ProbeResults
from tests.lab import JsonDeviceServer
from tests.probes import stream_monitor_reference as reference

COMPARED = ("camera_stream_status_up", "camera_stream_total", "camera_stream_status_total")

LISTING = [
    {"stream_id": "a1", "stream_node_num": 0, "stream_name": "GATE"},  # plain RUNNING, active
    {"stream_id": 5, "stream_node_num": 0, "stream_name": "GATE"},  # numeric id: exported as "5"
    {"stream_id": "a3", "stream_node_num": 1, "stream_name": "DOCK"},  # state "" stays "" (no fallback)
    {"stream_id": "a4", "stream_node_num": "0"},  # no name: UNKNOWN_STREAM; no stream_stats: fallback
    {"stream_id": "", "stream_node_num": 0, "stream_name": "GATE"},  # skipped: empty id
    {"stream_id": 0, "stream_node_num": 0, "stream_name": "GATE"},  # skipped: id 0 is falsy
    {"stream_id": "a7", "stream_name": "GATE"},  # skipped: no node
    {"stream_id": "a8", "stream_node_num": None, "stream_name": "GATE"},  # skipped: node null
    {"stream_id": "a9", "stream_node_num": 0, "stream_name": "DOCK"},  # active "false" is truthy: up
    {"stream_id": "a10", "stream_node_num": 0, "stream_name": "DOCK"},  # active 0: down
    {"stream_id": "a11", "stream_node_num": 0, "stream_name": "DOCK"},  # detail 404: API_ERROR
    {"stream_id": 7.5, "stream_node_num": 2, "stream_name": "YARD"},  # float id "7.5", STOPPED
    {"stream_id": "a13", "stream_node_num": 0, "stream_name": "YARD"},  # explicit UNKNOWN: fallback
    {"stream_id": "a14", "stream_node_num": 0, "stream_name": "YARD"},  # state null: "None"
    {"stream_id": "a15", "stream_node_num": 0, "stream_name": "YARD"},  # nothing at all: UNKNOWN
    {"stream_id": "a16", "stream_node_num": 0, "stream_name": 42},  # numeric name: "42"
    {"stream_id": "a17", "stream_node_num": 0, "stream_name": "YARD"},  # active missing: down
]
DETAILS = {
    "/streams/0/a1": {"active": True, "stream_stats": {"state": "RUNNING", "fps": 15}},
    "/streams/0/5": {"active": "true", "stream_stats": {"state": "RUNNING"}},
    "/streams/1/a3": {"active": True, "stream_stats": {"state": ""}, "status": {"pipelines": [{"state": "RUNNING"}]}},
    "/streams/0/a4": {"active": 1, "status": {"pipelines": [{"state": "RUNNING"}]}},
    "/streams/0/a9": {"active": "false", "stream_stats": {"state": "RUNNING"}},
    "/streams/0/a10": {"active": 0, "stream_stats": {"state": "RUNNING"}},
    "/streams/2/7.5": {"active": True, "stream_stats": {"state": "STOPPED"}},
    "/streams/0/a13": {
        "active": True, "stream_stats": {"state": "UNKNOWN"}, "status": {"pipelines": [{"state": "STOPPED"}]},
    },
    "/streams/0/a14": {"active": True, "stream_stats": {"state": None}},
    "/streams/0/a15": {"active": True},
    "/streams/0/a16": {"active": True, "stream_stats": {"state": "RUNNING"}},
    "/streams/0/a17": {"stream_stats": {"state": "RUNNING"}},
}  # fmt: skip


@pytest.fixture
def no_proxy(monkeypatch):
    """The exporter uses requests, which honours proxy variables: keep its loopback requests on loopback."""
    for var in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NO_PROXY", "*")


def series(exposition: str, names=COMPARED) -> dict[str, set[tuple[tuple[tuple[str, str], ...], float]]]:
    out: dict[str, set] = {n: set() for n in names}
    for fam in text_string_to_metric_families(exposition):
        for s in fam.samples:
            if s.name in out:
                out[s.name].add((tuple(sorted(s.labels.items())), s.value))
    return out


def exporter_exposition(base_url: str) -> str:
    reference.API_BASE_URLS = [base_url]
    reference.fetch_metrics()
    return generate_latest(reference.latest_registry).decode()


def vigil_exposition(base_url: str) -> tuple[str, list]:
    probe = AnalyticsApiProbe(base_url, parallelism=4, timeout_s=5)
    try:
        results = probe.run()
    finally:
        probe.close()
    store = ProbeResults()
    store.replace(probe.name, results)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(VigilCollector(lambda: {}, store))
    return generate_latest(registry).decode(), results


@pytest.fixture
def site(no_proxy):
    srv = JsonDeviceServer({"/streams": {"streams": LISTING}, **DETAILS}).start()
    yield srv
    srv.stop()


def test_every_series_the_exporter_exports_vigil_exports_alike(site):
    expected = series(exporter_exposition(site.base_url))
    got_text, _ = vigil_exposition(site.base_url)
    got = series(got_text)
    assert len(expected["camera_stream_status_up"]) == 13  # the oracle itself: 17 entries, 4 skipped
    for name in COMPARED:
        assert got[name] == expected[name], name
    up = {dict(lab)["stream_id"]: (dict(lab)["state_text"], v) for lab, v in got["camera_stream_status_up"]}
    # the three differences the acceptance run found, now as the exporter has them
    assert up["5"] == ("RUNNING", 1.0)  # a numeric stream_id is exported, as "5"
    assert up["5"][1] == 1.0 and up["a9"] == ("RUNNING", 1.0)  # "true" and even "false" (text) are active
    assert up["a3"] == ("", 0.0)  # state "" stays "", no fallback to the pipeline's RUNNING
    assert up["a13"] == ("STOPPED", 0.0) and up["a4"] == ("RUNNING", 1.0)  # the fallback: only from UNKNOWN
    assert up["a14"] == ("None", 0.0) and up["a15"] == ("UNKNOWN", 0.0) and up["a11"] == ("API_ERROR", 0.0)


def test_skipped_entries_are_said_per_entry_and_counted_in_a_series(site, caplog):
    caplog.set_level("WARNING", logger="probes.analytics_api")
    text, results = vigil_exposition(site.base_url)
    server = results[0]
    for words in (
        'entry 4 has an empty stream_id ("")',
        "entry 5 has stream_id 0",
        "entry 6 (stream_id a7) has no stream_node_num",
        "entry 7 (stream_id a8) has stream_node_num null",
    ):
        assert words in server.error, server.error
        assert words in caplog.text
    assert server.metrics["skipped_entries"] == 4 and server.metrics["streams"] == 13
    skipped = series(text, ("vigil_analytics_skipped_entries",))["vigil_analytics_skipped_entries"]
    by_reason = {dict(lab)["reason"]: v for lab, v in skipped}
    assert by_reason == {
        "no_stream_id": 2.0,
        "no_node_num": 2.0,
        "not_an_object": 0.0,
        "unusable_value": 0.0,
        "over_limit": 0.0,
    }
    assert all(dict(lab)["source_host"] == "127.0.0.1" for lab, _ in skipped)


@pytest.mark.parametrize(
    "listing,words",
    [
        ({"streams": None}, "/streams: expected a list of streams, got null"),
        ({"streams": {"a": 1}}, "/streams: expected a list of streams, got an object"),
        ([1, 2], "/streams: expected a JSON object with a list of streams, got a list"),
    ],
)
def test_a_list_the_exporter_crashes_on_is_an_api_error_in_words(no_proxy, listing, words):
    srv = JsonDeviceServer({"/streams": listing}).start()
    try:
        with pytest.raises((TypeError, AttributeError)):  # the exporter loses its whole cycle (every server)
            exporter_exposition(srv.base_url)
        _, results = vigil_exposition(srv.base_url)
    finally:
        srv.stop()
    [server] = results
    assert not server.ok and server.state == "API_ERROR" and server.error == words


def test_an_entry_the_exporter_crashes_on_is_skipped_in_words(no_proxy):
    listing = {"streams": [7, {"stream_id": "ok", "stream_node_num": 0}, {"stream_id": [1], "stream_node_num": 0}]}
    srv = JsonDeviceServer(
        {"/streams": listing, "/streams/0/ok": {"active": True, "stream_stats": {"state": "RUNNING"}}}
    )
    srv.start()
    try:
        with pytest.raises(AttributeError):  # 'int' object has no attribute 'get'
            exporter_exposition(srv.base_url)
        text, results = vigil_exposition(srv.base_url)
    finally:
        srv.stop()
    server, stream = results
    assert stream.labels["stream_id"] == "ok" and stream.metrics["up"] == 1.0
    assert "entry 0 is a number, not a stream object" in server.error
    assert "entry 2: stream_id is a list, not text or a number" in server.error
    skipped = series(text, ("vigil_analytics_skipped_entries",))["vigil_analytics_skipped_entries"]
    assert {dict(lab)["reason"]: v for lab, v in skipped}["not_an_object"] == 1.0
