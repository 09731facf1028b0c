"""Runtime: typed services composed in one place, and one entry point for a live config change
(``Runtime.apply_config``) that behaves the same for the window, headless mode and any other front end."""

from __future__ import annotations

import threading

import pytest

from app import compose
from app.alerts.rules import Severity
from app.config import AppConfig, CameraConfig, ConfigError, MotionSettings, load_config
from app.paths import Paths
from app.runtime import START_ORDER, Runtime, restart_needed
from tests.helpers import wait_for

DEMO = "demo://{n}?pattern=testsrc2&size=160x90&rate=10"


def _paths(tmp_path) -> Paths:
    return Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")


def _cam(name: str, **kw) -> CameraConfig:
    return CameraConfig(name=name, url=kw.pop("url", DEMO.format(n=name.lower())), **kw)


@pytest.fixture
def running(tmp_path):
    """A whole composed core (store, recording, monitoring, alerts) on demo cameras, started and stopped."""
    made: list[Runtime] = []

    def make(config: AppConfig, demo: bool = False) -> Runtime:
        config.metrics.port = 0
        rt = compose.build_runtime(config, _paths(tmp_path), demo)
        made.append(rt)
        rt.start()
        return rt

    yield make
    for rt in made:
        rt.stop()


def test_build_runtime_fills_every_service_field_and_starts_them_in_order(tmp_path):
    rt = compose.build_runtime(AppConfig(cameras=[_cam("Gate")]), _paths(tmp_path))
    assert [name for name, _ in rt.services()] == list(START_ORDER)
    assert rt.health is not None and rt.build_probes is not None
    # the recorders' index mirrors into the runtime's store, found through the field at call time
    assert rt.recording.index._store() is rt.store
    rt.store = None
    assert rt.recording.index._store() is None


def test_an_invalid_config_is_refused_whole_and_changes_nothing(running, tmp_path):
    rt = running(AppConfig(cameras=[_cam("Gate")]))
    bad = rt.config.model_copy(deep=True)
    # an object edited around validation (model_construct) must still be refused by apply_config
    bad.alerts = type(bad.alerts).model_construct(**{**bad.alerts.model_dump(), "debounce_s": -5})
    with pytest.raises(ConfigError, match="debounce_s"):
        rt.apply_config(bad)
    assert rt.config.alerts.debounce_s == 30.0 and rt.alerts.settings.debounce_s == 30.0
    # a rule the engine does not know is refused in words before the cameras change
    bad = rt.config.model_copy(deep=True)
    bad.cameras.append(_cam("Dock"))
    bad.alerts.rules = {"CameraGone": {"severity": "MAJOR"}}
    with pytest.raises(ConfigError, match="unknown rule 'CameraGone'"):
        rt.apply_config(bad)
    assert [c.id for c in rt.config.cameras] == ["gate"] and rt.supervisor.pipeline("dock") is None
    assert not (tmp_path / "vigil.json").exists()


def test_live_change_reaches_supervisor_probes_alerts_and_motion_and_is_saved(running, tmp_path, hls_lab):
    gate = _cam("Gate", motion=MotionSettings(enabled=True))
    rt = running(AppConfig(cameras=[gate]))
    assert wait_for(lambda: rt.motion.state("gate") is not None, what="motion analysis of the gate")
    assert not [n for n in rt.probes.probes() if n.startswith("hls")]

    new = rt.config.model_copy(deep=True)
    new.cameras.append(_cam("Channel", url=hls_lab.master_url))
    new.camera("gate").motion.sensitivity = 0.9
    new.camera("gate").name = "Gate North"
    new.alerts.debounce_s = 3.0
    new.alerts.rules = {"CameraOffline": {"severity": "warning"}}
    applied = rt.apply_config(new)

    assert applied.restart_needed == ()
    assert rt.config is applied.config and rt.config.camera("channel").url == hls_lab.master_url
    assert rt.supervisor.pipeline("channel") is not None  # the added camera runs
    assert any(n.startswith("hls") for n in rt.probes.probes())  # ... and its HLS probe too
    assert rt.alerts.settings.debounce_s == 3.0 and rt.alerts._eval.debounce_s == 3.0
    assert next(r for r in rt.alerts.rules if r.alertname == "CameraOffline").severity is Severity.WARNING
    assert rt.motion._cams["gate"].detector.params == type(rt.motion._cams["gate"].detector.params).from_settings(
        rt.config.camera("gate").motion
    )
    assert wait_for(lambda: rt.supervisor.snapshots()["gate"].name == "Gate North", what="the rename")
    applied.saved.result(30)
    on_disk = load_config(tmp_path / "vigil.json")
    assert [c.id for c in on_disk.cameras] == ["gate", "channel"] and on_disk.alerts.debounce_s == 3.0


def test_settings_read_once_at_start_are_named_for_a_restart():
    old = AppConfig(cameras=[_cam("Gate"), _cam("Dock")])
    new = old.model_copy(deep=True)
    new.metrics.port = 9999
    new.store.sample_interval_s = 10
    new.alerts.webhook_urls = ["http://127.0.0.1:9/hook"]
    new.camera("gate").recording.mode = "continuous"
    new.camera("dock").url = DEMO.format(n="dock2")  # restarts the pipelines, but the recorder is made once a run
    new.camera("dock").recording.mode = "continuous"
    assert restart_needed(old, new) == ("metrics", "store", "alerts.webhook_urls", "cameras.gate.recording",
                                        "cameras.dock.recording")  # fmt: skip


def test_demo_runtime_applies_in_memory_and_never_writes_the_users_file(running, tmp_path):
    rt = running(AppConfig(cameras=[_cam("Gate")]), demo=True)
    new = rt.config.model_copy(deep=True)
    new.wall.layout = "4x4"
    applied = rt.apply_config(new)
    assert applied.saved is None and rt.config.wall.layout == "4x4"
    assert rt.flush_saves(5)
    assert not (tmp_path / "vigil.json").exists()


def test_concurrent_applies_are_serialised_and_the_last_one_is_on_disk(tmp_path):
    rt = Runtime(AppConfig(cameras=[_cam("Gate")]), _paths(tmp_path))
    try:

        def apply(i: int) -> None:
            cfg = rt.config.model_copy(deep=True)
            cfg.wall.tour_seconds = float(i)
            rt.apply_config(cfg)

        threads = [threading.Thread(target=apply, args=(i,)) for i in range(1, 9)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(10)
        assert rt.flush_saves(30)
        assert load_config(tmp_path / "vigil.json").wall.tour_seconds == rt.config.wall.tour_seconds
    finally:
        rt.stop()
