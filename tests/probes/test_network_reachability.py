"""Reachability without a second connection: the network probe targets the camera's *host* (ICMP, a configured
probe_port) and never a stream port; NETWORK_DOWN / PORT_CLOSED / PORT_FILTERED are judged from the stream's
own connection joined with the probe's finding (app/health/reachability.py).

Real peers on 127.0.0.1: silent servers that count accepts (the probe must make none on a stream port),
ffmpeg as a one-client RTMP server (``-listen 1``: the probe taking its one connection kept the camera
OFFLINE), a refused port and a port that drops SYNs, through the supervisor and the health monitor.
"""

from __future__ import annotations

import time

import pytest

from app.config import AppConfig, CameraConfig, ConfigError, PipelineSettings, ProbesSettings, parse_config
from app.health.picture import HealthMonitor
from app.health.reachability import Reachability, StreamAnswer, answer_of_reason, judge, stream_answer
from app.pipeline.source import classify_error
from app.pipeline.state import HealthSnapshot, StreamState
from app.pipeline.supervisor import Supervisor
from probes import network
from probes.base import ProbeResult
from probes.network import NetworkProbe
from probes.registry import build_probes
from probes.scheduler import ProbeScheduler
from tests.helpers import wait_for
from tests.lab import LabError, free_port
from tests.pipeline.test_error_words import ffmpeg_error
from tests.probes.tcp_peers import DroppingPort, FfmpegRtmpListen, SilentServer

# ---------------------------------------------------------------------------- the judgement (pure)


def test_the_verdict_from_the_streams_answer_and_the_probes_finding():
    ok, closed, none, dns, unknown = (StreamAnswer.ANSWERED, StreamAnswer.REFUSED, StreamAnswer.NO_ANSWER,
                                      StreamAnswer.DNS, StreamAnswer.UNKNOWN)  # fmt: skip
    for probe in (True, False, None):
        assert judge(ok, probe) == Reachability("OK", "the camera answers on its stream port")
        assert judge(closed, probe).state == "PORT_CLOSED" and not judge(closed, probe).conditions
        assert judge(dns, probe).state == "DNS_ERROR" and not judge(dns, probe).conditions
        assert judge(unknown, probe) == Reachability("UNKNOWN")
    assert judge(none, True).state == "PORT_FILTERED" and not judge(none, True).conditions
    assert judge(none, False).conditions == ("NETWORK_DOWN",) and "nor to the probe" in judge(none, False).words
    assert judge(none, None).conditions == ("NETWORK_DOWN",) and "nothing else measured" in judge(none, None).words


URL = "rtsp://127.0.0.1:8554/cam1"
# classify_error's words (the contract the judgement reads back) -> what the host did on the stream port
WORDS = [
    (classify_error(ffmpeg_error(111, URL)), StreamAnswer.REFUSED),
    (classify_error(ffmpeg_error(b"EXIT", URL), opening=True, waited_s=8.0, timeout_s=8.0), StreamAnswer.NO_ANSWER),
    (classify_error(ffmpeg_error(113, URL), opening=True, waited_s=0.1, timeout_s=8.0), StreamAnswer.NO_ANSWER),
    (classify_error(ffmpeg_error(b"INDA", URL), opening=True, waited_s=8.03, timeout_s=8.0, read_timeout_s=8.0,
                    scheme="rtsp"), StreamAnswer.ANSWERED),  # connected, but the server sent nothing
    (classify_error(ffmpeg_error(5, "rtmp://h/live/x"), opening=True, waited_s=0.01, timeout_s=8.0,
                    read_timeout_s=8.0, scheme="rtmp"), StreamAnswer.ANSWERED),  # not RTMP
    (classify_error(ffmpeg_error(b"\xf8401", URL)), StreamAnswer.ANSWERED),
    (classify_error(ffmpeg_error(b"\xf8404", URL)), StreamAnswer.ANSWERED),
    (classify_error(ffmpeg_error(104, URL)), StreamAnswer.ANSWERED),  # reset
    (classify_error(ffmpeg_error(b"EOF ", URL)), StreamAnswer.ANSWERED),
    (classify_error(ffmpeg_error(b"EXIT", URL), waited_s=8.0, timeout_s=8.0), StreamAnswer.ANSWERED),  # hung read
    (classify_error(ffmpeg_error(b"\xf8DEC", URL)), StreamAnswer.ANSWERED),  # no decoder: connected
    (classify_error(ffmpeg_error(5, URL), opening=True, waited_s=0.05, timeout_s=8.0), StreamAnswer.UNKNOWN),
]  # fmt: skip


@pytest.mark.parametrize(("error", "answer"), WORDS, ids=[e.reason for e, _ in WORDS])
def test_the_reason_words_say_whether_the_host_answered(error, answer):
    assert answer_of_reason(error.reason) is answer


def test_dns_words_and_the_snapshot_states():
    assert answer_of_reason("DNS: host name 'cam.invalid' not found") is StreamAnswer.DNS
    snap = HealthSnapshot(camera_id="a", name="A")
    assert stream_answer(snap) is StreamAnswer.UNKNOWN  # not started
    assert stream_answer(HealthSnapshot(camera_id="a", name="A", state=StreamState.CONNECTING)) is StreamAnswer.UNKNOWN
    assert stream_answer(HealthSnapshot(camera_id="a", name="A", state=StreamState.STALLED)) is StreamAnswer.ANSWERED
    # a reconnect keeps the evidence of the failure before it
    retry = HealthSnapshot(camera_id="a", name="A", state=StreamState.CONNECTING, down_since=5.0,
                           last_error="timed out connecting: no answer in 8 s")  # fmt: skip
    assert stream_answer(retry) is StreamAnswer.NO_ANSWER


# ---------------------------------------------------------------------------- the probe: never a stream port


def test_the_config_refuses_a_probe_port_that_is_a_stream_port():
    with pytest.raises(ConfigError, match=r"probe_port 554 is the stream port of url 'rtsp://admin:\*\*\*@cam/"):
        parse_config({"cameras": [{"name": "gate", "url": "rtsp://admin:pw@cam/live", "probe_port": 554}]})
    with pytest.raises(ConfigError, match="probe_port 8554 is the stream port of sub_url"):
        parse_config({"cameras": [{"name": "gate", "url": "rtmp://cam/live/x", "sub_url": "rtsp://cam:8554/s",
                                       "probe_port": 8554}]})  # fmt: skip
    with pytest.raises(ConfigError, match="probe_port"):
        parse_config({"cameras": [{"name": "gate", "url": "rtsp://cam/live", "probe_port": 70000}]})
    cam = CameraConfig(name="gate", url="rtsp://admin:pw@cam/live", probe_port=80)
    assert cam.probe_port == 80
    with pytest.raises(ValueError, match="stream port"):
        NetworkProbe("gate", "cam", 554, stream_ports=frozenset({554}))


def test_the_registry_probes_hosts_and_configured_ports_only():
    cams = [
        CameraConfig(name="rtsp", url="rtsp://admin:pw@10.0.0.7/cam1"),
        CameraConfig(name="rtmp", url="rtmp://10.0.0.8:1999/live/x", probe_port=80),
        CameraConfig(
            name="hls", url="http://10.0.0.9:8080/live/index.m3u8", sub_url="rtsp://10.0.0.9:8554/sub", probe_port=443
        ),
        CameraConfig(name="demo", url="demo://a?pattern=life"),
    ]
    probes = {p.camera_id: p for p in build_probes(AppConfig(cameras=cams), kinds=("network",))}
    assert set(probes) == {"rtsp", "rtmp", "hls"}
    assert (probes["rtsp"].host, probes["rtsp"].port) == ("10.0.0.7", None)  # ICMP only: never 554
    assert (probes["rtmp"].host, probes["rtmp"].port) == ("10.0.0.8", 80)
    assert (probes["hls"].host, probes["hls"].port) == ("10.0.0.9", 443)  # the sub-stream's host (the tile's)
    no_icmp = AppConfig(cameras=cams, probes=ProbesSettings(network_icmp=False))
    assert {p.camera_id for p in build_probes(no_icmp, kinds=("network",))} == {
        "rtmp",
        "hls",
    }  # nothing else to measure


def test_icmp_only_results(monkeypatch):
    monkeypatch.setattr(network, "icmp_ping", lambda host, timeout: False)
    assert NetworkProbe("cam", "127.0.0.1").run() == []  # not permitted, no probe port: nothing measured
    monkeypatch.setattr(network, "icmp_ping", lambda host, timeout: None)
    [r] = NetworkProbe("cam", "127.0.0.1").run()
    assert (r.state, r.conditions, r.metrics["icmp_up"], r.labels["port"]) == (
        "NETWORK_DOWN",
        ("NETWORK_DOWN",),
        0.0,
        "",
    )
    monkeypatch.setattr(network, "icmp_ping", lambda host, timeout: 0.002)
    [r] = NetworkProbe("cam", "127.0.0.1").run()
    assert r.ok and r.state == "OK" and r.metrics["icmp_rtt_s"] == 0.002 and r.metrics["loss_ratio"] == 0.0
    with DroppingPort() as dropping:  # the host answers ping, its probe port does not
        [r] = NetworkProbe("cam", "127.0.0.1", dropping.port, attempts=1, timeout_s=0.3).run()
    assert r.state == "PORT_FILTERED" and not r.conditions


def test_the_network_probe_makes_no_connection_to_any_stream_port():
    """Silent servers stand in for the cameras' stream ports and count every accept; one more is a camera's
    configured probe_port. The probes built from the config run a few cycles: only the probe port is touched."""
    with SilentServer() as rtsp, SilentServer() as rtmp, SilentServer() as hls, SilentServer() as web:
        cams = [
            CameraConfig(name="rtsp", url=rtsp.url("rtsp", "/cam1")),
            CameraConfig(name="rtmp", url=rtmp.url("rtmp", "/live/x")),
            CameraConfig(name="hls", url=hls.url("http", "/live/index.m3u8"), probe_port=web.port),
        ]
        config = AppConfig(cameras=cams, probes=ProbesSettings(network_attempts=2))
        probes = build_probes(config, kinds=("network",))
        assert {p.camera_id for p in probes} <= {"rtsp", "rtmp", "hls"} and "hls" in {p.camera_id for p in probes}
        for _ in range(3):
            for p in probes:
                p.run()
        time.sleep(0.3)  # let the accept threads count
        assert (rtsp.accepts, rtmp.accepts, hls.accepts) == (0, 0, 0)
        assert web.accepts == 3 * 2


# ---------------------------------------------------------------------------- end to end: one-client camera


def _monitored(cams: list[CameraConfig], pipeline: PipelineSettings | None = None):
    config = AppConfig(cameras=cams, pipeline=pipeline or PipelineSettings())
    sup = Supervisor(config)
    health = HealthMonitor(sup).install()
    sched = ProbeScheduler(workers=2)
    for p in build_probes(config, kinds=("network",)):
        sched.add(p)
    sched.add_listener(health.on_probe_results)
    return config, sup, health, sched


def test_a_one_client_rtmp_camera_goes_live_with_its_probes_built_from_the_config(tmp_path):
    """``ffmpeg -listen 1`` accepts exactly one connection. The camera's probes run first (as the scheduler
    starts before the pipelines) and again while it streams; the pipeline still gets the one connection."""
    listener = FfmpegRtmpListen(tmp_path)
    try:
        listener.start(timeout=20)
    except LabError as e:
        pytest.skip(str(e))
    sched = sup = None
    try:
        config, sup, health, sched = _monitored([CameraConfig(name="one", url=listener.url)])
        for p in build_probes(config):  # every probe kind the config asks for, before the pipeline
            p.run()
        sched.start()
        sched.run_cycle(timeout=30)
        assert listener.listening(), "a probe took the listener's one connection"
        sup.start()
        live = wait_for(lambda: (s := sup.snapshots()["one"]).is_live and s, 30, what="camera one LIVE")
        assert live.width == 320 and live.height == 240
        sched.run_cycle(timeout=30)  # the probes again while it streams: nothing changes
        time.sleep(1.0)
        snap = sup.snapshots()["one"]
        assert snap.is_live and "NETWORK_DOWN" not in snap.conditions, snap
        assert health.camera("one").reachability.state == "OK"
    finally:
        if sched is not None:
            sched.stop()
        if sup is not None:
            assert sup.stop()
        listener.stop()


# ---------------------------------------------------------------------------- end to end: the verdicts


def test_refused_is_port_closed_silence_is_up_and_dropped_syns_are_network_down():
    """Through the supervisor and the health monitor: "connection refused" = host up (PORT_CLOSED), a server
    that accepts and says nothing = host up (OK), connects that time out = NETWORK_DOWN until the probe says
    the host answers (PORT_FILTERED)."""
    with DroppingPort() as dropping, SilentServer() as silent:
        cams = [
            CameraConfig(name="refused", url=f"rtsp://127.0.0.1:{free_port()}/cam1"),
            CameraConfig(name="silent", url=silent.url("rtsp", "/cam1")),
            CameraConfig(name="dropping", url=dropping.url("rtsp", "/cam1")),
        ]
        fast = PipelineSettings(open_timeout_s=2, read_timeout_s=1, backoff_initial_s=0.2, backoff_cap_s=1)
        _, sup, health, _ = _monitored(cams, fast)
        sup.start()
        try:

            def verdict(cid: str) -> str:
                r = health.camera(cid).reachability if health.camera(cid) else None
                return r.state if r else ""

            wait_for(lambda: verdict("refused") == "PORT_CLOSED", 20, what="refused: PORT_CLOSED")
            wait_for(lambda: verdict("silent") == "OK", 20, what="silent: OK")
            wait_for(lambda: "NETWORK_DOWN" in sup.snapshots()["dropping"].conditions, 20, what="NETWORK_DOWN")
            assert verdict("dropping") == "NETWORK_DOWN"
            snaps = sup.snapshots()
            assert "NETWORK_DOWN" not in snaps["refused"].conditions + snaps["silent"].conditions
            assert snaps["silent"].reason.startswith("connected, but the server sent nothing"), snaps["silent"]
            # it stays through the reconnects (CONNECTING keeps the last failure's words)
            for _ in range(10):
                assert "NETWORK_DOWN" in sup.snapshots()["dropping"].conditions
                time.sleep(0.2)
            # the host answers ping (the probe's finding): the stream port is filtered, the network is up
            health.on_probe_results(
                None, [ProbeResult("network", "dropping", ok=True, state="OK", camera_id="dropping")]
            )
            wait_for(lambda: "NETWORK_DOWN" not in sup.snapshots()["dropping"].conditions, 10, what="NETWORK_DOWN gone")
            assert verdict("dropping") == "PORT_FILTERED"
        finally:
            assert sup.stop()
