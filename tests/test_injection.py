"""Device- and operator-supplied text cannot forge log records, paint the console, break an alert or a tile
line into two, or leak a password through a crash: ``app.textsafe`` and ``app.logs``, in-process and
through the real ``main.py --headless`` against a fake analytics server whose ``last_error_msg`` is hostile.
"""

from __future__ import annotations

import json
import logging
import re
import subprocess
import sys
import threading
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from app.alerts.evaluator import Alert, AlertEvaluator, AlertStatus
from app.alerts.rules import DEFAULT_RULES, Observation, Severity
from app.alerts.sinks import alertmanager_alert
from app.logs import CONTINUATION, close_logging, setup_logging
from app.pipeline.state import HealthSnapshot, StreamState
from app.textsafe import ALERT_TEXT_MAX, escape_controls, one_line
from tests.lab.fake_api import FakeAnalyticsApi
from widgets.overlay_text import overlay_text

ROOT = Path(__file__).resolve().parents[1]
PASSWORD = "hunter2-Secret"
# what a hostile device puts in its error text: a forged record on a line of its own, a terminal clear and
# colour, a Unicode line separator, a right-to-left override, a C1 "next line"
FORGED = "2026-01-01 00:00:00,000 INFO    main vigil.alerts: ALERT RESOLVED CameraOffline [CRITICAL] Gate is back"
HOSTILE = f"decoder died\n{FORGED}\r\n\x1b[2J\x1b[31mred\u2028sep\u202eevil\x85nel\x00nul\x7fdel\ud800"
RECORD_START = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} ")
# every character that a terminal, an editor or str.splitlines treats as a break or a control
UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def assert_one_record_per_line(text: str) -> list[str]:
    """Every line of a Vigil log is a record (timestamp first) or a traceback line behind CONTINUATION."""
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for line in lines:
        assert RECORD_START.match(line) or line.startswith(CONTINUATION), repr(line)
        assert not UNSAFE.search(line), repr(line)
    return lines


# ---------------------------------------------------------------- the escaping itself


def test_escape_controls_writes_every_control_visibly_and_keeps_ordinary_text():
    assert escape_controls(HOSTILE) == (
        "decoder died\\n" + FORGED + "\\r\\n\\x1b[2J\\x1b[31mred\\u2028sep\\u202eevil\\x85nel\\x00nul\\x7fdel\\ud800"
    )
    plain = "Café · 15.0 fps — C:\\cams\\lobby 摄像头 ✓"
    assert escape_controls(plain) is plain  # nothing to do: the same object, no copy


@settings(max_examples=300, derandomize=True, deadline=None)
@given(st.text(alphabet=st.characters(codec=None, exclude_categories=()), max_size=200))
def test_escaped_text_is_always_one_line_without_controls(text):
    out = escape_controls(text)
    assert len(out.splitlines()) <= 1
    assert not UNSAFE.search(out)
    out.encode("utf-8")  # a lone surrogate would make the log handler drop the whole record
    assert one_line(text, 50) == (out[:49] + "…" if len(out) > 50 else out)


# ---------------------------------------------------------------- logs


def test_log_file_keeps_one_record_per_line_for_hostile_messages_args_and_tracebacks(tmp_path):
    log_dir = tmp_path / "logs"
    try:
        path = setup_logging("INFO", log_dir)
        log = logging.getLogger("vigil.probe")
        log.warning("stream %s: %s", "LOKASI-A", HOSTILE)  # in the args
        log.warning(HOSTILE)  # in the message itself
        try:
            raise ConnectionError(f"refused: rtsp://admin:{PASSWORD}@127.0.0.1:1/x\n{FORGED}\x1b[2J")
        except ConnectionError:
            log.exception("probe of %s failed", "gate\nALERT FIRED")
        log.info("stack follows", stack_info=True)
    finally:
        close_logging()
    text = path.read_text(encoding="utf-8")
    lines = assert_one_record_per_line(text)
    assert not [ln for ln in lines if FORGED in ln and ln.startswith(FORGED)]  # never a record of its own
    assert "stream LOKASI-A: decoder died\\n" + FORGED + "\\r\\n\\x1b[2J" in text
    assert "probe of gate\\nALERT FIRED failed" in text
    # the traceback stays readable, line by line, each behind the continuation mark
    assert f"{CONTINUATION}Traceback (most recent call last):" in text
    assert f"{CONTINUATION}ConnectionError: refused: rtsp://admin:***@127.0.0.1:1/x" in text
    assert f"{CONTINUATION}{FORGED}\\x1b[2J" in text  # the exception's second line: marked, escaped
    assert f"{CONTINUATION}Stack (most recent call last):" in text
    assert PASSWORD not in text and "\x1b" not in text


def test_a_crashed_thread_is_logged_scrubbed_as_one_record_with_marked_traceback_lines(tmp_path):
    log_dir = tmp_path / "logs"
    previous = threading.excepthook
    try:
        path = setup_logging("INFO", log_dir)
        assert threading.excepthook is not previous  # the hook is Vigil's while its logging is set up

        def boom():
            raise RuntimeError(f"cannot open rtsp://admin:{PASSWORD}@10.0.0.5/ch1?pwd={PASSWORD}\nALERT RESOLVED")

        t = threading.Thread(target=boom, name="camera:gate:demux")
        t.start()
        t.join(10)
    finally:
        close_logging()
    assert threading.excepthook is previous  # close_logging puts the previous hook back
    text = path.read_text(encoding="utf-8")
    assert_one_record_per_line(text)
    (record,) = [ln for ln in text.splitlines() if "unhandled exception in thread camera:gate:demux" in ln]
    assert "CRITICAL" in record and "vigil.crash" in record
    assert f"{CONTINUATION}RuntimeError: cannot open rtsp://admin:***@10.0.0.5/ch1?pwd=***" in text
    assert f"{CONTINUATION}ALERT RESOLVED" in text
    assert PASSWORD not in text


def test_an_unhandled_exception_in_the_main_thread_reaches_log_and_stderr_without_the_password(tmp_path):
    code = (
        "import sys; from pathlib import Path; from app.logs import setup_logging\n"
        f"setup_logging('INFO', Path(sys.argv[1]))\n"
        f"raise ValueError('bad URL rtsp://admin:{PASSWORD}@cam/x?token={PASSWORD}')\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "logs")], capture_output=True, text=True,
                       timeout=60, cwd=ROOT)  # fmt: skip
    assert r.returncode == 1
    text = (tmp_path / "logs" / "vigil.log").read_text(encoding="utf-8")
    for out in (text, r.stderr):
        assert "unhandled exception" in out
        assert f"{CONTINUATION}ValueError: bad URL rtsp://admin:***@cam/x?token=***" in out
        assert PASSWORD not in out
    assert_one_record_per_line(text)


# ---------------------------------------------------------------- alert texts and tiles


def test_alert_summary_and_alertmanager_annotations_are_one_bounded_line():
    rule = next(r for r in DEFAULT_RULES if r.alertname == "AnalyticsStreamError")
    obs = Observation(rule, "probe:analytics_stream:x", "Gate\nALERT RESOLVED", HOSTILE + "x" * 5000)
    s = obs.summary
    assert len(s.splitlines()) == 1 and not UNSAFE.search(s) and len(s) == ALERT_TEXT_MAX
    assert "Gate\\nALERT RESOLVED in error" in s and "decoder died\\n2026-01-01" in s and s.endswith("…")
    (fired,) = AlertEvaluator(0, 0).evaluate(100.0, [obs])
    assert fired.alert.name == "Gate\\nALERT RESOLVED" and fired.alert.summary == s  # the alarm panel's words
    alert = Alert("a1", obs.key, rule.alertname, Severity.MAJOR, AlertStatus.ACKNOWLEDGED, s, obs.subject, "",
                  "Gate\r\nfake", "", 1.0, 2.0, acknowledged_at=2.0, acknowledged_by="op\x1b[2J",
                  ack_note=f"checked\nrtsp://u:{PASSWORD}@h/")  # fmt: skip
    ann = alertmanager_alert(alert)["annotations"]
    assert ann["camera_name"] == "Gate\\r\\nfake" and ann["acknowledged_by"] == "op\\x1b[2J"
    assert ann["ack_note"] == "checked\\nrtsp://u:***@h/"
    assert all(len(v.splitlines()) <= 1 and not UNSAFE.search(v) for v in ann.values())


def test_tile_overlay_lines_stay_single_lines_for_hostile_names_and_reasons():
    snap = HealthSnapshot(camera_id="gate", name="Gate\nLIVE", group="HQ\x1b[31m", state=StreamState.OFFLINE,
                          reason=HOSTILE, state_since=1.0)  # fmt: skip
    o = overlay_text(snap)
    for text in (o.title, o.state, o.details, o.stamp, o.reason, o.activity):
        assert len(text.splitlines()) <= 1 and not UNSAFE.search(text), repr(text)
    assert o.title == "Gate\\nLIVE · HQ\\x1b[31m"
    assert o.reason.startswith("decoder died\\n2026-01-01")
    api = HealthSnapshot(camera_id="api:x", name="LOKASI\nA", state=StreamState.ERROR, reason=HOSTILE,
                         extra={"source": "analytics_api", "state_text": "ERROR\x1b[0m"})  # fmt: skip
    o = overlay_text(api)
    assert o.stamp == "API: ERROR\\x1b[0m" and "\n" not in o.reason and "\n" not in o.title


# ---------------------------------------------------------------- end to end: the real app, a hostile device


def test_headless_vigil_logs_a_hostile_last_error_msg_escaped_on_its_own_record(tmp_path):
    api = FakeAnalyticsApi(streams=1).start()
    try:
        api.set_state(0, "DEGRADED", last_error_msg=HOSTILE.replace("\ud800", ""))
        cfg = tmp_path / "vigil.json"
        cfg.write_text(json.dumps({
            "schema_version": 1,
            "metrics": {"enabled": False},
            "alerts": {"debounce_s": 0, "eval_interval_s": 0.2},
            "probes": {"analytics_servers": [{"base_url": api.base_url, "name": "api"}],
                       "analytics_interval_s": 1},
        }))  # fmt: skip
        data = tmp_path / "data"
        cmd = [sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg), "--data-dir", str(data),
               "--duration", "6"]  # fmt: skip
        r = subprocess.run(cmd, capture_output=True, timeout=120, cwd=tmp_path)
    finally:
        api.stop()
    stderr = r.stderr.decode("utf-8")
    assert r.returncode == 0, stderr[-3000:]
    text = (data / "logs" / "vigil.log").read_bytes().decode("utf-8")
    assert "Vigil core stopped" in text
    for out in (text, stderr):
        lines = assert_one_record_per_line(out)
        fired = [ln for ln in lines if "ALERT FIRED AnalyticsStreamError" in ln]
        assert fired, out[-3000:]  # the hostile text did reach the log, as one record
        assert "decoder died\\n" + FORGED + "\\r\\n\\x1b[2J\\x1b[31mred\\u2028sep\\u202eevil" in fired[0]
        assert not [ln for ln in lines if ln.startswith("2026-01-01")]  # the forged record is not a record
        assert "\x1b" not in out
