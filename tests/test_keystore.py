"""Secrets at rest (app/keystore.py): the config file never holds a password, through the real keyring API.

The OS path runs against a real Secret Service (gnome-keyring on a private D-Bus session bus, both started
and stopped here by PID); the file fallback runs with keyring's own ``fail`` and ``null`` backends, which
are what ``keyring.get_keyring()`` returns on a headless Linux node.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import quote

import keyring
import keyring.backend
import keyring.backends.fail
import keyring.backends.null
import keyring.backends.SecretService
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jaraco.classes import properties

from app import runtime
from app.config import AppConfig, CameraConfig, load_config, save_config
from app.keystore import (
    Keystore,
    SecretStoreError,
    fallback_file_for,
    references_in,
    resolve_secrets,
    strip_secrets,
)
from app.paths import Paths
from app.pipeline.pipeline import CameraPipeline
from app.pipeline.source import SourceError, build_spec
from app.pipeline.state import StreamState
from app.runtime import Runtime
from app.secrets import MISSING_WORDS, mask_slots, mask_url, ref_key, secret_slots
from tests.conftest import _strict
from tests.helpers import wait_for
from tests.pipeline.conftest import FAST, wait_state

PW = "Hunter2-s3cret!"  # needs percent-encoding in a URL ('!' stays, but see PW_AT)
PW_AT = "p@ss/w:rd"  # every character that must be encoded in userinfo
TOKEN = "tok-9f8e7d6c5b4a"
DEVICE_PW = "dev-Secret-77"
HOOK_PW = "hook-Secret-88"


def file_keystore(tmp_path: Path) -> Keystore:
    """What a headless node gets: keyring's ``fail`` backend, so the file next to the config."""
    return Keystore(fallback_file_for(tmp_path / "vigil.json"), keyring_backend=keyring.backends.fail.Keyring())


def site_config() -> AppConfig:
    pw = quote(PW, safe="")
    return AppConfig.model_validate({
        "cameras": [
            {"id": "gate", "name": "Gate", "url": f"rtsp://admin:{pw}@10.0.0.5:554/ch1?pwd={pw}",
             "sub_url": f"rtsp://admin:{quote(PW_AT, safe='')}@10.0.0.5:554/ch2"},
            {"id": "dvr", "name": "DVR", "url": f"rtsp://10.0.0.9:554/user=admin_password={PW}_channel=1_stream=0.sdp"},
            {"id": "hls", "name": "HLS", "url": f"https://cdn.local/live/index.m3u8?token={TOKEN}"},
            {"id": "open", "name": "Open", "url": "rtsp://10.0.0.7/live"},
        ],
        "probes": {"json_devices": [{"name": "Presenter", "url": f"http://op:{DEVICE_PW}@10.0.0.20/status.json"}]},
        "alerts": {"webhook_urls": [f"https://hooks.local/notify?access_token={HOOK_PW}"]},
    })  # fmt: skip


def all_secret_forms() -> list[bytes]:
    out = []
    for s in (PW, PW_AT, TOKEN, DEVICE_PW, HOOK_PW):
        out += [s.encode(), quote(s, safe="").encode(), json.dumps(s).strip('"').encode()]
    out += [b"s3cret", b"Hunter2"]  # a part of a password is a leak too
    return out


def test_config_on_disk_has_no_secret_and_round_trips(tmp_path):
    ks = file_keystore(tmp_path)
    cfg = site_config()
    path = tmp_path / "vigil.json"
    save_config(cfg, path, ks)
    raw = path.read_bytes()
    for secret in all_secret_forms():
        assert secret not in raw, secret
    on_disk = json.loads(raw)
    gate = on_disk["cameras"][0]
    # the user name stays readable; one password written twice is one key
    assert gate["url"] == ("rtsp://admin:${secret:camera.gate.main}@10.0.0.5:554/ch1?pwd=${secret:camera.gate.main}")
    assert gate["sub_url"] == "rtsp://admin:${secret:camera.gate.sub}@10.0.0.5:554/ch2"
    assert on_disk["cameras"][3]["url"] == "rtsp://10.0.0.7/live"
    assert load_config(path, ks) == cfg  # every URL back, byte for byte
    secrets_file = fallback_file_for(path)
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert json.loads(secrets_file.read_text())["secrets"]["camera.gate.sub"] == quote(PW_AT, safe="")
    assert not ks.uses_os_keyring


def test_new_config_folder_and_secret_file_are_private(tmp_path):
    path = tmp_path / "site" / "conf" / "vigil.json"
    ks = Keystore(fallback_file_for(path), keyring_backend=keyring.backends.null.Keyring())
    save_config(site_config(), path, ks)
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(fallback_file_for(path).stat().st_mode) == 0o600
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert not list(path.parent.glob("*.tmp"))  # atomic writes leave no temporary behind


def test_plaintext_config_is_migrated_at_load_with_one_log_line(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "vigil.json"
    path.write_text(json.dumps(site_config().model_dump(mode="json")))  # as an older Vigil wrote it
    assert PW.encode() in path.read_bytes()
    ks = file_keystore(tmp_path)
    cfg = load_config(path, ks)
    assert cfg == site_config()  # the running config has the full URLs
    for secret in all_secret_forms():
        assert secret not in path.read_bytes(), secret
    moved = [r.getMessage() for r in caplog.records if r.getMessage().startswith("moved ")]
    # gate: main + sub (two different passwords), dvr, hls token = 4; the device and the webhook = 2 others
    assert moved == [f"moved 4 camera passwords and 2 other secrets from {path} to the file {fallback_file_for(path)}"]
    backend = [r for r in caplog.records if r.getMessage().startswith("secrets: ")]
    assert len(backend) == 1 and "no OS keyring here" in backend[0].getMessage()
    caplog.clear()
    assert load_config(path, ks) == cfg
    assert not [r for r in caplog.records if r.getMessage().startswith("moved ")]  # once


def test_missing_secret_is_said_in_words_not_a_crash(tmp_path, caplog):
    path = tmp_path / "vigil.json"
    save_config(site_config(), path, file_keystore(tmp_path))
    fallback_file_for(path).unlink()  # e.g. the config copied to another machine without its keyring
    cfg = load_config(path, file_keystore(tmp_path))
    gate = cfg.camera("gate")
    assert "${secret:camera.gate.main}" in gate.url and mask_url(gate.url).startswith("rtsp://admin:***@")
    assert f"camera 'gate' (URL): {MISSING_WORDS}" in caplog.text
    with pytest.raises(SourceError) as e:
        build_spec(gate.url)
    assert e.value.state is StreamState.ERROR and MISSING_WORDS in e.value.reason
    assert cfg.camera("open").url == "rtsp://10.0.0.7/live"  # the others are untouched


def test_removed_camera_and_changed_password_leave_no_stale_secret(tmp_path):
    ks = file_keystore(tmp_path)
    path = tmp_path / "vigil.json"
    cfg = site_config()
    save_config(cfg, path, ks)
    cfg = cfg.model_copy(update={"cameras": [c for c in cfg.cameras if c.id != "hls"]})
    cfg.cameras[0] = cfg.cameras[0].model_copy(update={"url": "rtsp://admin:N3w-pw@10.0.0.5:554/ch1", "sub_url": None})
    save_config(cfg, path, ks)
    stored = json.loads(fallback_file_for(path).read_text())["secrets"]
    assert stored["camera.gate.main"] == "N3w-pw"
    assert "camera.hls.main" not in stored and "camera.gate.sub" not in stored
    assert TOKEN not in fallback_file_for(path).read_text()
    assert load_config(path, ks) == cfg


def test_secret_file_readable_by_others_is_made_private(tmp_path, caplog):
    ks = file_keystore(tmp_path)
    path = tmp_path / "vigil.json"
    save_config(site_config(), path, ks)
    os.chmod(fallback_file_for(path), 0o644)
    assert load_config(path, ks) == site_config()
    assert stat.S_IMODE(fallback_file_for(path).stat().st_mode) == 0o600
    assert "could be read by other users" in caplog.text


def test_damaged_secret_file_is_an_error_in_words(tmp_path, caplog):
    path = tmp_path / "vigil.json"
    save_config(site_config(), path, file_keystore(tmp_path))
    fallback_file_for(path).write_text("{not json")
    cfg = load_config(path, file_keystore(tmp_path))  # starts, with the cameras saying what is missing
    assert MISSING_WORDS in caplog.text and "is damaged" in caplog.text
    with pytest.raises(SecretStoreError, match="is damaged"):
        save_config(cfg.model_copy(update={"cameras": [site_config().cameras[0]]}), path, file_keystore(tmp_path))
    assert "Hunter2" not in path.read_text()


def test_config_without_secrets_never_chooses_a_backend(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    ks = file_keystore(tmp_path)
    path = tmp_path / "vigil.json"
    save_config(AppConfig(cameras=[CameraConfig(name="Open", url="rtsp://10.0.0.7/live")]), path, ks)
    load_config(path, ks)
    assert not fallback_file_for(path).exists()
    assert "secrets: " not in caplog.text


# --------------------------------------------------------------------------- keys name their destination

DEV_A, DEV_B, HOOK_A, HOOK_B = "devA-Secret-1", "devB-Secret-2", "hookA-Secret-3", "hookB-Secret-4"


def two_of_each() -> AppConfig:
    return AppConfig.model_validate({
        "probes": {"json_devices": [{"name": "Hall", "url": f"http://op:{DEV_A}@10.0.0.20/status.json"},
                                    {"name": "Stage", "url": f"http://op:{DEV_B}@10.0.0.21/status.json"}],
                   "analytics_servers": [{"base_url": f"http://api:{DEV_A}@analytics-a.local:4004"},
                                         {"base_url": f"http://api:{DEV_B}@analytics-b.local:4004"}]},
        "alerts": {"webhook_urls": [f"https://a.hooks.local/n?access_token={HOOK_A}",
                                    f"https://b.hooks.local/n?access_token={HOOK_B}"]},
    })  # fmt: skip


def without_first_entries(cfg: AppConfig) -> AppConfig:
    new = cfg.model_copy(deep=True)
    del new.probes.json_devices[0], new.probes.analytics_servers[0], new.alerts.webhook_urls[0]
    return new


def test_a_crash_between_the_secrets_and_the_config_never_sends_one_entrys_secret_to_another(tmp_path):
    ks = file_keystore(tmp_path)
    path = tmp_path / "vigil.json"
    old = two_of_each()
    save_config(old, path, ks)
    new = without_first_entries(old)  # the operator deletes device, analytics server and webhook 0
    # save_config(new) dies after storing the new config's secrets and before renaming its file into place
    to_store, _ = strip_secrets(new.model_dump(mode="json"))
    ks.put(to_store)
    after_crash = load_config(path, file_keystore(tmp_path))
    # the old file's entry 0 still gets its own password: with index keys it got entry 1's (device.0 had been
    # overwritten), sent to entry 0's host
    assert after_crash == old
    save_config(new, path, ks)
    assert load_config(path, file_keystore(tmp_path)) == new
    stored = fallback_file_for(path).read_text()
    assert DEV_B in stored and HOOK_B in stored and DEV_A not in stored and HOOK_A not in stored


def test_index_keys_of_an_older_vigil_resolve_and_are_re_keyed_at_load(tmp_path, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "vigil.json"
    data = two_of_each().model_dump(mode="json")  # as the previous Vigil wrote it: keys by list position
    devices, servers, hooks = data["probes"]["json_devices"], data["probes"]["analytics_servers"], None
    hooks = data["alerts"]["webhook_urls"]
    legacy = {}
    for i, (dev, srv, pw, hook_pw) in enumerate(zip(devices, servers, (DEV_A, DEV_B), (HOOK_A, HOOK_B), strict=True)):
        dev["url"] = dev["url"].replace(pw, f"${{secret:device.{i}}}")
        srv["base_url"] = srv["base_url"].replace(pw, f"${{secret:analytics.{i}}}")
        hooks[i] = hooks[i].replace(hook_pw, f"${{secret:webhook.{i}}}")
        legacy |= {f"device.{i}": pw, f"analytics.{i}": pw, f"webhook.{i}": hook_pw}
    path.write_text(json.dumps(data))
    ks = file_keystore(tmp_path)
    ks.put(legacy)
    assert load_config(path, ks) == two_of_each()  # the old keys work
    assert "secrets: 6 secrets of" in caplog.text and "re-keyed by where they are sent" in caplog.text
    on_disk = path.read_text()
    assert not references_in(on_disk) & legacy.keys() and len(references_in(on_disk)) == 6
    stored = json.loads(fallback_file_for(path).read_text())["secrets"]
    assert not stored.keys() & legacy.keys() and stored.keys() == references_in(on_disk)  # old keys deleted
    caplog.clear()
    assert load_config(path, file_keystore(tmp_path)) == two_of_each()
    assert "re-keyed" not in caplog.text  # once


# --------------------------------------------------------------------------- an OS keyring that does not answer


class BlockingKeyring(keyring.backend.KeyringBackend):
    """A keyring backend whose calls wait until :attr:`release` is set, as a locked Secret Service collection
    waits on an unlock prompt that no one answers. The first *answer_first* calls are answered at once."""

    priority = 1

    def __init__(self, answer_first: int = 0) -> None:
        super().__init__()
        self.release = threading.Event()
        self.answer_first = answer_first
        self.calls = 0  # calls that reached the backend
        self.values: dict[tuple[str, str], str] = {}

    def _answer(self) -> None:
        self.calls += 1
        if self.calls > self.answer_first:
            self.release.wait()

    def get_password(self, service, username):
        self._answer()
        return self.values.get((service, username))

    def set_password(self, service, username, password):
        self._answer()
        self.values[(service, username)] = password

    def delete_password(self, service, username):
        self._answer()
        self.values.pop((service, username), None)


class SlowToFindKeyring(BlockingKeyring):
    """Its priority (what keyring.get_keyring() reads to choose it) waits on D-Bus activation that never ends."""

    found = threading.Event()  # set but while a test holds it: keyring's own backend scans must never wait
    found.set()

    @properties.classproperty
    def priority(cls) -> float:
        cls.found.wait()
        return 1


@pytest.mark.parametrize("backend", [BlockingKeyring, SlowToFindKeyring])
def test_a_keyring_that_never_answers_costs_one_bounded_wait_and_the_file_is_used(tmp_path, caplog, backend):
    caplog.set_level(logging.INFO)
    path = tmp_path / "vigil.json"
    kr = backend()
    SlowToFindKeyring.found.clear()
    started = time.monotonic()
    try:
        ks = Keystore(fallback_file_for(path), keyring_backend=kr, timeout_s=1)
        save_config(site_config(), path, ks)
        cfg = load_config(path, ks)
        assert time.monotonic() - started < 30  # hang check: one wait of 1 s, not one per key
        assert cfg == site_config() and not ks.uses_os_keyring
        assert "secrets: the OS keyring did not answer within 1 s" in caplog.text
        # the probe's read (none where finding the keyring hung): no later call waited on it again
        assert kr.calls == (1 if backend is BlockingKeyring else 0)
    finally:
        kr.release.set()
        SlowToFindKeyring.found.set()


def test_an_os_keyring_that_stops_answering_fails_in_words_within_the_bound_then_recovers(tmp_path):
    kr = BlockingKeyring(answer_first=1)  # the probe is answered; then the collection locks (a prompt)
    ks = Keystore(fallback_file_for(tmp_path / "vigil.json"), keyring_backend=kr, timeout_s=1)
    try:
        assert ks.uses_os_keyring
        started = time.monotonic()
        words = r"the OS keyring did not answer within 1 s when asked to read 'camera.gate.main' \(locked, waiting"
        with pytest.raises(SecretStoreError, match=words):
            ks.get("camera.gate.main")
        with pytest.raises(SecretStoreError, match=r"1 s \(asked to read 'camera.gate.main', it has not answered"):
            ks.put({"camera.gate.main": "n3w"})
        assert time.monotonic() - started < 30  # hang check
        assert kr.calls == 2  # the put did not reach the keyring: it failed at once instead of waiting again
        assert not fallback_file_for(tmp_path / "vigil.json").exists()  # and nothing went to the file instead
    finally:
        kr.release.set()  # the prompt is answered
    wait_for(lambda: _answers(ks), what="the keyring to be used again")
    ks.put({"camera.gate.main": "n3w"})
    assert ks.get("camera.gate.main") == "n3w" and kr.values[("vigil", "camera.gate.main")] == "n3w"


def _answers(ks: Keystore) -> bool:
    try:
        ks.get("camera.any.main")
        return True
    except SecretStoreError:
        return False


# --------------------------------------------------------------------------- a real OS keyring


@pytest.fixture
def secret_service(tmp_path, monkeypatch):
    """keyring's SecretService backend talking to a real gnome-keyring on a private session bus."""
    for prog in ("dbus-daemon", "gnome-keyring-daemon"):
        if shutil.which(prog) is None:
            msg = f"test lab needs missing program {prog} (scripts/setup.sh LAB_APT: gnome-keyring dbus-daemon)"
            if _strict():
                pytest.fail(msg)
            pytest.skip(msg)
    home, run = tmp_path / "home", tmp_path / "run"
    for d in (home, run):
        d.mkdir(mode=0o700)
    env = {**os.environ, "HOME": str(home), "XDG_DATA_HOME": str(home / "share"), "XDG_RUNTIME_DIR": str(run)}
    bus = subprocess.Popen(["dbus-daemon", "--session", "--nofork", "--print-address=1"], env=env,
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)  # fmt: skip
    procs = [bus]
    try:
        address = bus.stdout.readline().strip()
        assert address.startswith("unix:"), f"dbus-daemon gave no address ({address!r})"
        env["DBUS_SESSION_BUS_ADDRESS"] = address
        daemon = subprocess.Popen(["gnome-keyring-daemon", "--foreground", "--unlock", "--components=secrets"],
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.DEVNULL)  # fmt: skip
        procs.append(daemon)
        daemon.stdin.write(b"test-login-password")
        daemon.stdin.close()
        monkeypatch.setenv("DBUS_SESSION_BUS_ADDRESS", address)
        kr = keyring.backends.SecretService.Keyring()
        # a request before the daemon has made the login collection (from the password on stdin) asks to create
        # one through a prompt, which no one answers here ("Prompt dismissed"): wait for the collection first
        wait_for(lambda: (home / "share" / "keyrings" / "login.keyring").exists(), 20, 0.05, "the login keyring")
        deadline = time.monotonic() + 20
        while True:  # hang check: the daemon registers on the bus within a second or so
            try:
                kr.get_password("vigil-test", "ready")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield kr
    finally:
        for p in reversed(procs):
            p.terminate()
            try:
                p.wait(10)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def test_os_keyring_holds_the_secrets_and_no_file_is_written(tmp_path, secret_service, caplog):
    caplog.set_level(logging.INFO)
    kr = secret_service
    path = tmp_path / "vigil.json"
    previous = keyring.get_keyring()
    keyring.set_keyring(kr)  # what keyring.get_keyring() returns on a desktop with a Secret Service
    try:
        ks = Keystore.for_config(path)
        save_config(site_config(), path, ks)
        assert ks.uses_os_keyring and "OS keyring" in ks.where
        scope = f"{path.absolute()}|"  # not the platform's default config: keys carry the file's path
        assert kr.get_password("vigil", scope + "camera.gate.main") == quote(PW, safe="")
        hook_key = ref_key(secret_slots(json.loads(path.read_text())["alerts"]["webhook_urls"][0])[0].value)
        assert hook_key.startswith("webhook.") and kr.get_password("vigil", scope + hook_key) == HOOK_PW
        assert not fallback_file_for(path).exists()
        for secret in all_secret_forms():
            assert secret not in path.read_bytes(), secret
        assert load_config(path, ks) == site_config()
        cfg = site_config().model_copy(update={"cameras": site_config().cameras[1:]})
        save_config(cfg, path, ks)
        assert kr.get_password("vigil", scope + "camera.gate.main") is None  # stale keys are deleted
        assert "secrets: camera passwords are kept in the OS keyring (SecretService Keyring)" in caplog.text
    finally:
        keyring.set_keyring(previous)


def test_a_secret_file_stays_the_store_when_the_os_keyring_answers_at_a_later_start(tmp_path, secret_service):
    """A kiosk: at the first start the login keyring's unlock prompt went unanswered, so the passwords went
    to the file; at the next start the keyring answers. The file holding secrets stays the store."""
    path = tmp_path / "vigil.json"
    locked = BlockingKeyring()
    try:
        save_config(site_config(), path, Keystore(fallback_file_for(path), keyring_backend=locked, timeout_s=1))
    finally:
        locked.release.set()
    assert fallback_file_for(path).exists()
    ks = Keystore(fallback_file_for(path), keyring_backend=secret_service)
    assert load_config(path, ks) == site_config() and not ks.uses_os_keyring
    assert secret_service.get_password("vigil", "camera.gate.main") is None  # nothing was moved or copied


def test_a_secret_kept_by_an_earlier_start_in_the_other_store_is_found_and_moved(tmp_path, secret_service, caplog):
    caplog.set_level(logging.INFO)
    path = tmp_path / "vigil.json"
    # start 1: the keyring answers; the passwords go there
    save_config(site_config(), path, Keystore(fallback_file_for(path), keyring_backend=secret_service))
    assert secret_service.get_password("vigil", "camera.gate.main") == quote(PW, safe="")
    # start 2: the unlock prompt goes unanswered: the file is chosen, the cameras say their password is
    # missing, and the operator adds a camera (its password goes to the file)
    locked = BlockingKeyring()
    try:
        ks = Keystore(fallback_file_for(path), keyring_backend=locked, timeout_s=1)
        cfg = load_config(path, ks)
        assert MISSING_WORDS in caplog.text
        extra = CameraConfig(id="yard", name="Yard", url="rtsp://admin:yard-Pw-5@10.0.0.6/ch1")
        save_config(cfg.model_copy(update={"cameras": [*cfg.cameras, extra]}), path, ks)
    finally:
        locked.release.set()
    assert json.loads(fallback_file_for(path).read_text())["secrets"] == {"camera.yard.main": "yard-Pw-5"}
    # start 3: the keyring answers again, the file (holding a secret) is the store: every camera has its
    # password, the ones from start 1 found in the keyring and moved to the file, said once
    caplog.clear()
    ks = Keystore(fallback_file_for(path), keyring_backend=secret_service)
    cfg = load_config(path, ks)
    assert cfg.cameras[:4] == site_config().cameras and cfg.camera("yard").url == extra.url
    assert cfg.probes == site_config().probes and cfg.alerts.webhook_urls == site_config().alerts.webhook_urls
    moved = [r.getMessage() for r in caplog.records if "an earlier start kept it there" in r.getMessage()]
    assert len(moved) == 1 and "was in the OS keyring (SecretService Keyring), not in the file" in moved[0]
    assert secret_service.get_password("vigil", "camera.gate.main") is None
    stored = json.loads(fallback_file_for(path).read_text())["secrets"]
    assert stored["camera.gate.main"] == quote(PW, safe="") and len(stored) == 7
    # start 4, a node with no keyring at all: everything is in the file now
    assert load_config(path, file_keystore(tmp_path)) == cfg


def test_stop_returns_while_a_config_save_hangs_and_says_the_previous_file_is_intact(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(runtime, "SAVE_WAIT_AT_STOP_S", 0.5)
    paths = Paths(tmp_path / "vigil.json", tmp_path, tmp_path / "rec", tmp_path / "logs")
    previous = AppConfig(cameras=[CameraConfig(id="open", name="Open", url="rtsp://10.0.0.7/live")])
    save_config(previous, paths.config_file)
    before = paths.config_file.read_bytes()
    # the secret store hangs: a FIFO in place of the secret file, which a read opens and waits on forever
    # (no writer), as a keyring call waits on an unlock prompt
    os.mkfifo(fallback_file_for(paths.config_file), 0o600)
    rt = Runtime(site_config(), paths)
    saving = rt.save_now()
    try:
        started = time.monotonic()
        rt.stop()
        assert time.monotonic() - started < 30  # hang check: before, stop waited for the save forever
        assert not saving.done()
        assert "the config save did not finish within 0.5 s" in caplog.text
        assert f"the previous config file {paths.config_file} is intact (saves are atomic)" in caplog.text
        assert paths.config_file.read_bytes() == before
    finally:
        fifo, damaged = fallback_file_for(paths.config_file), tmp_path / "damaged"
        with open(fifo, "wb"):  # a writer: the hung read goes on (and reads nothing: "damaged") ...
            damaged.write_text("{not json")
            os.replace(damaged, fifo)  # ... and the save's next read finds a damaged file, not the FIFO again
        with pytest.raises(SecretStoreError, match="is damaged"):
            saving.result(timeout=30)
    assert load_config(paths.config_file, file_keystore(tmp_path)) == previous  # no secret was written


# --------------------------------------------------------------------------- end to end: a camera with a password


@pytest.mark.lab
def test_camera_password_from_the_keystore_opens_the_real_camera(rtsp_lab, tmp_path):
    ks = file_keystore(tmp_path)
    path = tmp_path / "vigil.json"
    url = rtsp_lab.secure_url(rtsp_lab.user, rtsp_lab.password)
    save_config(AppConfig(cameras=[CameraConfig(id="secure", name="Secure", url=url)]), path, ks)
    assert rtsp_lab.password.encode() not in path.read_bytes()
    cam = load_config(path, ks).camera("secure")
    p = CameraPipeline(cam.id, cam.name, cam.url, options=FAST)
    p.start()
    try:
        wait_state(p, StreamState.LIVE)
    finally:
        p.stop()
    fallback_file_for(path).unlink()
    cam = load_config(path, file_keystore(tmp_path)).camera("secure")
    p = CameraPipeline(cam.id, cam.name, cam.url, options=FAST)
    p.start()
    try:
        snap = wait_state(p, StreamState.ERROR)
        assert MISSING_WORDS in snap.reason and "${secret" not in snap.url
    finally:
        p.stop()


# --------------------------------------------------------------------------- the slots agree with mask_url


SHAPES = [
    "rtsp://admin:{pw}@10.0.0.5:554/ch1?pwd={pw}&user=admin",
    "rtsp://10.0.0.9:554/user=admin_password={pw}_channel=1_stream=0.sdp?real_stream",
    "rtsp://cam/live;password={pw};ch=2",
    "rtsp://admin:{pw}@[::1]:8554/x",
    "https://cdn.local/live/index.m3u8?token={pw}&access_token={pw}x#frag",
    "http://op:{pw}@10.0.0.20/status.json",
]


@given(pw=st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=24),
       shape=st.sampled_from(SHAPES))  # fmt: skip
@settings(max_examples=200, derandomize=True, deadline=None)
def test_any_password_is_stripped_and_put_back_exactly(pw, shape):
    url = shape.format(pw=quote(pw, safe=""))
    cfg = {"cameras": [{"id": "c1", "url": url, "sub_url": None}]}
    to_store, referenced = strip_secrets(cfg)
    on_disk = cfg["cameras"][0]["url"]
    slots = secret_slots(on_disk)
    assert len(slots) == len(secret_slots(url)) and all(ref_key(s.value) in referenced for s in slots)
    assert mask_url(on_disk) == mask_url(url) == mask_slots(url)  # the dialog, the logs and the file agree
    with tempfile.TemporaryDirectory() as d:
        ks = file_keystore(Path(d))
        ks.put(to_store)
        scan = resolve_secrets(cfg, ks)
    assert cfg["cameras"][0]["url"] == url and not scan.missing and scan.references == len(slots)
