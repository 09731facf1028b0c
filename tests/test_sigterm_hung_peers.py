"""SIGTERM stops the real headless app promptly while every peer it talks to hangs or trickles.

The acceptance run measured a headless Vigil that did not exit within 90 s of SIGTERM (13 threads left)
with JSON devices and an HLS server trickling 1 byte/s. Here: JSON devices trickling headers and bodies,
one on a TCP peer that accepts and never answers, an HLS camera whose playlist trickles, and an RTSP camera
on the silent peer; SIGTERM once they are all blocked; the process must exit cleanly well within 10 s.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from tests.probes.slow_peers import SlowPeer
from tests.probes.tcp_peers import SilentServer

ROOT = Path(__file__).resolve().parents[1]


def test_sigterm_exits_within_the_bound_while_peers_hang(tmp_path):
    peer, silent = SlowPeer(period=1.0), SilentServer()
    devices = [{"name": f"body{i}", "url": peer.url("/trickle-body"), "interval_s": 2} for i in range(3)]
    devices += [{"name": f"head{i}", "url": peer.url("/trickle-headers"), "interval_s": 2} for i in range(3)]
    devices += [{"name": "mute", "url": f"http://127.0.0.1:{silent.port}/status", "interval_s": 2}]
    cfg = tmp_path / "vigil.json"
    cfg.write_text(json.dumps({
        "schema_version": 1,
        "metrics": {"enabled": False},
        "cameras": [{"name": "Lobby", "url": peer.url("/trickle-body/live/master.m3u8")},
                    {"name": "Gate", "url": silent.url("rtsp", "/stream1")}],
        "probes": {"http_timeout_s": 30, "workers": 4, "json_devices": devices},  # deadlines of 60 s
    }))  # fmt: skip
    data = tmp_path / "data"
    cmd = [sys.executable, str(ROOT / "main.py"), "--headless", "--config", str(cfg), "--data-dir", str(data)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        # 7 probe requests + the HLS probe + the camera's own playlist read on the trickling peer
        while time.monotonic() < deadline and not (peer.connections >= 9 and silent.accepts >= 2):
            assert proc.poll() is None, proc.stdout.read().decode(errors="replace")[-3000:]
            time.sleep(0.1)
        assert peer.connections >= 9 and silent.accepts >= 2, (peer.connections, silent.accepts)
        time.sleep(1.0)  # blocked mid-read now
        t0 = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            raise AssertionError("no exit within 10 s of SIGTERM") from None
        took = time.monotonic() - t0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        out = proc.stdout.read().decode(errors="replace")
        peer.close()
        silent.close()
    assert rc == 0, out[-3000:]
    print(f"SIGTERM to exit: {took:.1f} s")
    assert took < 10, took  # a hang check; measured ~4 s with the default 8 s FFmpeg timeouts
    text = (data / "logs" / "vigil.log").read_text(encoding="utf-8")
    assert "Vigil core stopped" in text, out[-3000:]
    assert "probes stopped in" in text, out[-3000:]  # not "... thread(s) still blocked"
