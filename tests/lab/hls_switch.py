#!/usr/bin/env python3
"""Live HLS whose codec switches mid-stream: runs of H.264 segments, then HEVC, then H.264 again, each run
announced by ``#EXT-X-DISCONTINUITY``, on one continuous timeline (as an encoder that changes codec on the
fly would send it). Normally started by ``tests.lab.servers.CodecSwitchHls``; stdlib only.

The segments are pre-encoded templates (MPEG-TS, one GOP each, all with the same timestamps): every new
live segment is a template whose PCR/PTS/DTS are moved by k * --seconds (and whose continuity counters carry
on), so the lab encodes nothing while it runs. Segment k's codec is ``codecs[(k // --run) % len(codecs)]``.

  tests/lab/hls_switch.py --out DIR --template h264=DIR/h264_%03d.ts --template hevc=DIR/hevc_%03d.ts \\
      --run 4 --seconds 2 --window 6

Segment k is published (playlist rewritten atomically) once the wall clock has passed its end, like a live
packager; --prefill segments are published at once (as if the stream had been running), so a player can
start right away. Prints "HLS switch ready" after the first playlist.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from pathlib import Path


def _shift_ts(b: bytearray, at: int, offset: int) -> None:
    """Add *offset* (90 kHz) to the 33-bit PTS/DTS field at b[at:at+5], keeping its marker bits."""
    v = ((b[at] >> 1) & 0x07) << 30 | b[at + 1] << 22 | (b[at + 2] >> 1) << 15 | b[at + 3] << 7 | b[at + 4] >> 1
    v = (v + offset) & ((1 << 33) - 1)
    b[at] = (b[at] & 0xF1) | ((v >> 29) & 0x0E)
    b[at + 1] = (v >> 22) & 0xFF
    b[at + 2] = ((v >> 14) & 0xFE) | 0x01
    b[at + 3] = (v >> 7) & 0xFF
    b[at + 4] = ((v << 1) & 0xFE) | 0x01


def restamp(src: str, dst: Path, offset_s: float, counters: dict[int, int]) -> None:
    """Copy the MPEG-TS file *src* to *dst* with every PCR, PTS and DTS moved *offset_s* later, and the
    continuity counters carried on from the previous segment (*counters*, per PID), as one packager's
    stream would be. Pure Python: ~2 ms for a 2 s segment (an ffmpeg run per segment cost ~5 % of a core)."""
    off = round(offset_s * 90_000)
    data = bytearray(Path(src).read_bytes())
    for i in range(0, len(data) - 187, 188):
        if data[i] != 0x47:
            raise ValueError(f"{src}: lost MPEG-TS sync at byte {i}")
        pid = (data[i + 1] & 0x1F) << 8 | data[i + 2]
        afc = (data[i + 3] >> 4) & 0x03
        if afc & 0x01:  # has payload: the counter counts payload packets
            cc = (counters.get(pid, -1) + 1) & 0x0F
            counters[pid] = cc
            data[i + 3] = (data[i + 3] & 0xF0) | cc
        pos = i + 4
        if afc & 0x02:
            af_len = data[pos]
            if af_len and data[pos + 1] & 0x10:  # PCR: 33-bit base (90 kHz) + 9-bit extension
                at = pos + 2
                base = data[at] << 25 | data[at + 1] << 17 | data[at + 2] << 9 | data[at + 3] << 1 | data[at + 4] >> 7
                base = (base + off) & ((1 << 33) - 1)
                data[at : at + 4] = (base >> 1).to_bytes(4, "big")
                data[at + 4] = (data[at + 4] & 0x7F) | ((base & 1) << 7)
            pos += 1 + af_len
        start = data[i + 1] & 0x40
        if start and afc & 0x01 and data[pos : pos + 3] == b"\x00\x00\x01" and data[pos + 3] >= 0xBC:
            flags = data[pos + 7] >> 6  # PTS_DTS_flags: 2 = PTS, 3 = PTS + DTS
            if flags & 0x02:
                _shift_ts(data, pos + 9, off)
            if flags == 0x03:
                _shift_ts(data, pos + 14, off)
    tmp = dst.with_name(f".{dst.name}.tmp")
    tmp.write_bytes(data)
    tmp.chmod(0o644)
    os.replace(tmp, dst)


def playlist(entries: list[tuple[int, str]], seconds: float, window: int) -> str:
    """The live playlist of the last *window* segments; *entries* is every (k, codec) published so far."""
    shown = entries[-window:]
    first = shown[0][0]
    before = len(entries) - len(shown)
    # EXT-X-DISCONTINUITY-SEQUENCE: the discontinuity sequence number of the first segment shown (the
    # codec changes up to it); its own tag, if any, went with the segments before it
    disc_seq = sum(1 for i in range(1, before + 1) if entries[i][1] != entries[i - 1][1])
    lines = [
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{round(seconds)}",
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{disc_seq}",
    ]
    for i, (k, codec) in enumerate(shown):
        if i > 0 and codec != shown[i - 1][1]:
            lines.append("#EXT-X-DISCONTINUITY")
        lines += [f"#EXTINF:{seconds:.3f},", f"seg_{k:06d}.ts"]
    return "\n".join(lines) + "\n"


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    tmp.chmod(0o644)
    os.replace(tmp, path)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="folder of index.m3u8 and the segments (served by nginx)")
    p.add_argument("--template", action="append", required=True, help="CODEC=PATTERN (%%03d: template index)")
    p.add_argument("--run", type=int, default=4, help="segments per codec before switching")
    p.add_argument("--seconds", type=float, default=2.0, help="segment duration (one GOP)")
    p.add_argument("--window", type=int, default=6, help="segments listed in the playlist")
    p.add_argument("--prefill", type=int, default=3, help="segments published at start (at least 1)")
    a = p.parse_args()
    a.prefill = max(1, a.prefill)

    codecs = [t.split("=", 1)[0] for t in a.template]
    patterns = [t.split("=", 1)[1] for t in a.template]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))

    entries: list[tuple[int, str]] = []
    counters: dict[int, int] = {}
    t0 = time.monotonic()
    k = 0
    while not stop:
        # segment k covers stream time [k*S, (k+1)*S); the stream "started" prefill segments before t0
        due = t0 + (k + 1 - a.prefill) * a.seconds
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(min(delay, 0.2))
            continue
        which = (k // a.run) % len(codecs)
        restamp(patterns[which] % (k % a.run), out / f"seg_{k:06d}.ts", k * a.seconds, counters)
        entries.append((k, codecs[which]))
        write_atomic(out / "index.m3u8", playlist(entries, a.seconds, a.window))
        gone = k - a.window - 4  # segments a slow player may still be reading stay a while
        if gone >= 0:
            (out / f"seg_{gone:06d}.ts").unlink(missing_ok=True)
        if k + 1 == a.prefill:
            print(f"HLS switch ready: {out}/index.m3u8 ({'/'.join(codecs)}, {a.run} x {a.seconds:g} s)", flush=True)
        k += 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
