"""Logs go to a rotating file in the log folder, and no camera password ever reaches it."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

from app.logs import close_logging, setup_logging

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-Secret"


def test_setup_logging_writes_a_scrubbed_rotating_file(tmp_path):
    log_dir = tmp_path / "logs"
    try:
        path = setup_logging("INFO", log_dir)
        assert path == log_dir / "vigil.log"
        setup_logging("INFO", log_dir)  # again: replaces its handlers instead of doubling every line
        log = logging.getLogger("vigil.test")
        log.error("cannot open rtsp://admin:%s@127.0.0.1:1/stream1", PASSWORD)
        try:
            raise ConnectionError(f"refused: rtsp://admin:{PASSWORD}@127.0.0.1:1/stream1")
        except ConnectionError:
            log.exception("camera failed")
    finally:
        close_logging()
    text = path.read_text(encoding="utf-8")
    assert text.count("cannot open rtsp://admin:***@127.0.0.1:1/stream1") == 1
    assert "ConnectionError: refused: rtsp://admin:***@" in text
    assert PASSWORD not in text


def test_setup_logging_without_a_writable_folder_says_so(tmp_path, capsys):
    blocker = tmp_path / "logs"
    blocker.write_text("not a folder")
    try:
        assert setup_logging("INFO", blocker / "sub") is None
    finally:
        close_logging()
    assert "cannot write logs to" in capsys.readouterr().err


def test_headless_run_writes_a_log_file_without_the_camera_password(tmp_path):
    cfg = tmp_path / "vigil.json"
    cfg.write_text(json.dumps({
        "schema_version": 1,
        "cameras": [{"name": "Gate", "url": f"rtsp://admin:{PASSWORD}@127.0.0.1:1/stream1"}],  # refused
        "metrics": {"enabled": False},
    }))  # fmt: skip
    data = tmp_path / "data"
    cmd = [sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg), "--data-dir", str(data),
           "--duration", "3"]  # fmt: skip
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-2000:]
    log_file = data / "logs" / "vigil.log"
    assert log_file.is_file(), r.stderr[-2000:]
    text = log_file.read_text(encoding="utf-8")
    assert "starting Vigil core: 1 cameras" in text and "Vigil core stopped" in text
    assert "history store ready" in text
    assert PASSWORD not in text and PASSWORD not in r.stderr
