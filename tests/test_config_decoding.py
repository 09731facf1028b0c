"""A config file that cannot be read as UTF-8 JSON stops Vigil with exit code 2 and one sentence naming the
file and where the problem is (no traceback); a UTF-8 byte order mark is accepted (RFC 8259 section 8.1)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from app.config import ConfigError, decode_config_text, load_config

ROOT = Path(__file__).resolve().parents[1]
BOM = b"\xef\xbb\xbf"
GOOD = json.dumps({"schema_version": 1, "cameras": [], "metrics": {"enabled": False}}, indent=1).encode()


def run_vigil(cfg: Path, *extra: str) -> subprocess.CompletedProcess:
    cmd = [sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg), "--data-dir",
           str(cfg.parent / "data"), *extra]  # fmt: skip
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, cwd=cfg.parent)


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        # "Café" written in Latin-1 by an old editor: 0xe9 is byte 28 of the file, on line 3
        (b'{\n "cameras": [],\n "x": "Caf\xe9"\n}', r"byte 0xe9 at offset 28 \(line 3, column 11\)"),
        # after a BOM the offset still counts from the start of the file
        (BOM + b'{"x": "\xc3("}', r"byte 0xc3 at offset 10 \(line 1, column 11\)"),
        (b"\xff\xfe{\x00}\x00", r"is UTF-16 text .*save it as UTF-8"),
        (b'{\n  "cameras": [,]\n}', r"is not valid JSON: Expecting value at line 2, column 15"),
        (b"[" * 100_000, r"nested too deeply"),
    ],
)
def test_an_unreadable_config_exits_2_with_the_file_and_the_place_and_no_traceback(tmp_path, raw, words):
    cfg = tmp_path / "vigil.json"
    cfg.write_bytes(raw)
    r = run_vigil(cfg)
    assert r.returncode == 2, r.stderr[-2000:]
    assert "Traceback" not in r.stderr
    (line,) = [ln for ln in r.stderr.splitlines() if ln.startswith("vigil: ")]
    assert str(cfg) in line
    assert re.search(words, line), line


def test_a_config_with_a_utf8_byte_order_mark_loads_and_runs(tmp_path):
    cfg = tmp_path / "vigil.json"
    cfg.write_bytes(BOM + GOOD)
    assert load_config(cfg).cameras == []
    r = run_vigil(cfg, "--duration", "0.5")
    assert r.returncode == 0, r.stderr[-2000:]
    assert "Vigil core stopped" in r.stderr


def test_decode_config_text_names_offset_line_and_column():
    assert decode_config_text(BOM + '{"name": "Café"}'.encode(), "c.json") == '{"name": "Café"}'
    with pytest.raises(ConfigError, match=r"c\.json is not UTF-8 text: byte 0x80 at offset 3 \(line 2, column 2\)"):
        decode_config_text(b"{\n \x80}", "c.json")
    with pytest.raises(ConfigError, match="UTF-32"):
        decode_config_text(b"\xff\xfe\x00\x00{\x00\x00\x00", "c.json")
