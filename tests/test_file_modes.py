"""Everything Vigil writes is its user's only: 0600 files, 0700 folders.

The real ``main.py --headless`` runs in a child process with the platform's default folders (HOME and the
XDG variables point into tmp_path), a recording camera of the RTSP lab behind a password (so the keystore
file is written), the metrics textfile and a webhook that cannot be reached (so a backlog is kept). The
folders start as an older Vigil left them (0755, files 0644). While it runs and after it stopped, every
file and folder under its config, data and log folders and the recordings is checked.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

from app.paths import make_private

ROOT = Path(__file__).resolve().parents[1]


def mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def open_to_others(root: Path) -> list[str]:
    """'path 0644' for every entry under *root* (root included) that group or others may use."""
    bad = []
    for p in [root, *root.rglob("*")]:
        if p.is_symlink():
            continue
        m = mode(p)
        if m & 0o077 or (p.is_dir() and m != 0o700):
            bad.append(f"{p} {m:04o}")
    return bad


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_headless_vigil_creates_and_leaves_only_private_files(rtsp_lab, tmp_path):
    home = tmp_path / "home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIGIL_", "XDG_"))}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / ".config"), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_STATE_HOME=str(home / ".local/state"), XDG_CACHE_HOME=str(home / ".cache"),
               PYTHON_KEYRING_BACKEND="keyring.backends.null.Keyring")  # fmt: skip
    config_dir, data_dir = home / ".config/vigil", home / ".local/share/vigil"
    log_dir, rec_dir = home / ".local/state/vigil/log", data_dir / "recordings"
    # what an older Vigil (umask 022) left behind
    for d in (config_dir, rec_dir, log_dir):
        d.mkdir(parents=True)
    old_files = [log_dir / "vigil.log.1", data_dir / "notes.txt"]
    for f in old_files:
        f.write_text("old\n")
    textfile_dir = tmp_path / "node_exporter"  # node_exporter's folder, not Vigil's: left as it is
    textfile_dir.mkdir()
    for p in (home, config_dir, data_dir, rec_dir, log_dir, textfile_dir, home / ".local/state/vigil"):
        p.chmod(0o755)
    cfg = config_dir / "vigil.json"
    cfg.write_text(json.dumps({
        "schema_version": 1,
        "cameras": [{"id": "dock", "name": "Dock", "url": rtsp_lab.secure_url(rtsp_lab.user, rtsp_lab.password),
                     "recording": {"mode": "continuous"}}],
        "recording": {"segment_seconds": 1, "reserve_mb": 0, "min_free_gb": 0},
        "metrics": {"port": 0, "file_path": str(textfile_dir / "vigil.prom"), "file_interval_s": 0.5},
        "alerts": {"webhook_urls": [f"http://127.0.0.1:{free_port()}/hook?token=not-a-real-token"],
                   "debounce_s": 0},
    }))  # fmt: skip
    for f in (cfg, *old_files):
        f.chmod(0o644)

    console = tmp_path / "console.txt"
    seen: dict[str, int] = {}  # files that may exist only while Vigil runs (.part, -journal/-wal): their modes
    with open(console, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--headless", "--duration", "90"],
                                stdout=out, stderr=subprocess.STDOUT, cwd=tmp_path, env=env)  # fmt: skip
        try:
            deadline = time.monotonic() + 60  # a hang check, not a speed bound
            while time.monotonic() < deadline and proc.poll() is None:
                for kind, found in ((".part", rec_dir.rglob("*.part")), ("db", data_dir.glob("vigil.sqlite3-*"))):
                    for p in found:  # the database's -journal (or -wal/-shm, whichever journal mode the store uses)
                        try:
                            seen.setdefault(kind, mode(p))
                        except FileNotFoundError:
                            pass
                ready = (textfile_dir / "vigil.prom").exists() and ".part" in seen and "db" in seen
                if ready and len(list(rec_dir.rglob("*.mp4"))) >= 2:
                    break
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(60)
    log_text = console.read_text(encoding="utf-8", errors="replace")
    assert rc == 0, log_text[-3000:]
    assert len(list(rec_dir.rglob("*.mp4"))) >= 2, log_text[-3000:]
    assert seen == {".part": 0o600, "db": 0o600}, seen
    # every file and folder of Vigil's: private, the ones an older Vigil left included
    assert (data_dir / "vigil.sqlite3").is_file() and (log_dir / "vigil.log").is_file()
    assert list(config_dir.glob("*.secrets.json")), list(config_dir.iterdir())  # the password went there
    for root in (config_dir, data_dir, log_dir, rec_dir):
        assert open_to_others(root) == [], root
    assert mode(home / ".local/state/vigil") == 0o755  # an existing parent is not Vigil's business
    assert mode(textfile_dir / "vigil.prom") == 0o600
    assert mode(textfile_dir) == 0o755  # node_exporter's folder: not changed
    assert "s3cret" not in cfg.read_text(encoding="utf-8")
    (line,) = [ln for ln in log_text.splitlines() if "readable by this user only" in ln]
    # (the config file itself was written again, 0600, when its passwords moved to the keystore file)
    for p, was in ((config_dir, "0755"), (data_dir, "0755"), (log_dir / "vigil.log.1", "0644")):
        assert f"{p} ({was} -> " in line, line


def test_make_private_tightens_own_entries_without_following_links_or_walking_recordings(tmp_path):
    data = tmp_path / "data"
    seg_dir = data / "recordings" / "dock" / "2026-01-01"
    seg_dir.mkdir(parents=True)
    seg = seg_dir / "x.mp4"
    seg.write_bytes(b"")
    db = data / "vigil.sqlite3"
    db.write_bytes(b"")
    script = data / "hook.sh"
    script.write_text("#!/bin/sh\n")
    outside = tmp_path / "shared.txt"
    outside.write_text("not Vigil's")
    (data / "link").symlink_to(outside)
    for p in (data, data / "recordings", seg_dir.parent, seg_dir, tmp_path):
        p.chmod(0o755)
    for p in (seg, db, outside):
        p.chmod(0o644)
    script.chmod(0o755)
    cfg = tmp_path / "vigil.json"  # a config named with --config: the file is tightened, not its folder
    cfg.write_text("{}")
    cfg.chmod(0o644)
    changed, problems = make_private([data], [cfg], keep_out=[data / "recordings"])
    assert problems == []
    assert {(c.path, c.old_mode, c.new_mode) for c in changed} == {
        (data, 0o755, 0o700), (data / "recordings", 0o755, 0o700), (db, 0o644, 0o600), (script, 0o755, 0o700),
        (cfg, 0o644, 0o600),
    }  # fmt: skip
    assert mode(tmp_path) == 0o755
    assert mode(seg) == 0o644 and mode(seg_dir) == 0o755  # below a 0700 root: unreachable, not walked
    assert mode(outside) == 0o644  # the link's target is not Vigil's
    assert make_private([data], [cfg], keep_out=[data / "recordings"]) == ([], [])  # the second start: nothing
