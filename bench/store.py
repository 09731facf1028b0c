"""Store benchmark: sustained writes for 64 cameras at 1 sample/s plus events, on a real SQLite file.

Prints:
- the p50/p99/max time a caller (the GUI or a pipeline thread) spends in the store API (enqueue only);
- whether the single writer keeps up with 100x that rate (6400 samples/s + events), paced;
- the writer's capacity (an unpaced burst written as fast as it can) against the 100x requirement:
  the line starting ``100x keep-up:`` is the result;
- the database size per camera-day at 1 sample/s (raw rows) and with the default retention (steady state).

Roll-ups/retention are off during the runs (``periodic_maintenance=False``): the bench writes history at
fixed past times, which the real-clock retention would delete mid-run. Timing starts once the database is
open (``wait_ready``), so migrations are not counted.

Usage: .venv/bin/python bench/store.py [--seconds 20] [--cameras 64] [--burst 200000] [--url sqlite:///...]
Smoke (seconds, not figures): .venv/bin/python bench/store.py --seconds 0.3 --burst 5000
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app.config import StoreSettings
from app.store import Store
from app.store.db import sqlite_url
from app.store.records import HealthSampleRecord

STATES = ("LIVE", "LIVE", "LIVE", "STALLED", "LIVE", "OFFLINE", "CONNECTING")


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(p / 100 * len(xs)))]


def db_size(path: Path) -> int:
    """The database and SQLite's own files; not the history journal's 4 MiB reserve (app.store.journal)."""
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*") if ".unwritten.jsonl" not in p.name)


def run(url: str, path: Path | None, cameras: int, seconds: float, rate_multiplier: float) -> dict:
    store = Store(url, StoreSettings(), periodic_maintenance=False)
    store.start()
    if not store.wait_ready(120):
        raise SystemExit(f"bench: {store.status().message}")
    t0 = 1_700_000_000.0
    caller_ns: list[int] = []
    submitted = 0
    interval = 1.0 / rate_multiplier  # virtual seconds between sample rounds
    rounds = int(seconds * rate_multiplier)
    wall0 = time.perf_counter()
    behind_max = 0
    for r in range(rounds):
        at = t0 + r  # one virtual second of history per round
        for c in range(cameras):
            cid = f"cam{c:02d}"
            s = time.perf_counter_ns()
            store.submit(HealthSampleRecord(cid, at, "LIVE", 25.0, 2e6, 40.0, ()))
            if r % 10 == c % 10:  # plus one state change per camera every 10 s
                store.record_state_change(cid, at, STATES[r % len(STATES)], STATES[(r + 1) % len(STATES)], "bench")
                submitted += 1
            caller_ns.append(time.perf_counter_ns() - s)
            submitted += 1
        behind_max = max(behind_max, store.status().queued)
        # pace: rounds happen every `interval` real seconds
        target = wall0 + (r + 1) * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
    produced_s = time.perf_counter() - wall0
    flushed = store.flush(300)
    drained_s = time.perf_counter() - wall0
    st = store.status()
    store.stop()
    out = {
        "rounds": rounds,
        "records": submitted,
        "produce_s": produced_s,
        "drain_s": drained_s,
        "flushed": flushed,
        "written": st.written_total,
        "dropped": st.dropped_total,
        "queue_max_seen": behind_max,
        "p50_us": pct(caller_ns, 50) / 1e3,
        "p99_us": pct(caller_ns, 99) / 1e3,
        "max_us": max(caller_ns) / 1e3,
    }
    if path is not None:
        out["db_bytes"] = db_size(path)
    return out


def capacity(url: str, cameras: int, records: int) -> dict:
    """Queue *records* samples (+ 1 state change per 10) up front, then time the writer draining them."""
    store = Store(url, StoreSettings(queue_max=max(200_000, records * 2)), periodic_maintenance=False)
    store.start()
    if not store.wait_ready(120):
        raise SystemExit(f"bench: {store.status().message}")
    t0 = 1_700_000_000.0
    n = 0
    start = time.perf_counter()
    for i in range(records):
        cid = f"cam{i % cameras:02d}"
        at = t0 + i // cameras
        store.submit(HealthSampleRecord(cid, at, "LIVE", 25.0, 2e6, 40.0, ()))
        n += 1
        if i % 10 == 0:
            store.record_state_change(cid, at, "LIVE", "STALLED", "bench")
            n += 1
    flushed = store.flush(600)
    elapsed = time.perf_counter() - start
    st = store.status()
    store.stop()
    return {"records": n, "seconds": elapsed, "flushed": flushed, "written": st.written_total,
            "dropped": st.dropped_total}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cameras", type=int, default=64)
    ap.add_argument("--seconds", type=float, default=20.0, help="real seconds at 1x (and of the 100x run)")
    ap.add_argument("--burst", type=int, default=200_000, help="samples in the unpaced capacity run (0 = skip)")
    ap.add_argument("--url", default=None, help="SQLAlchemy URL (default: a fresh SQLite file)")
    a = ap.parse_args()
    # 100x the real load: every camera 1 sample/s plus one state change per camera every 10 s
    required = a.cameras * (1 + 0.1) * 100
    tmp = Path(tempfile.mkdtemp(prefix="vigil-bench-store-"))
    try:
        for mult, label in ((1.0, f"1x ({a.cameras} cameras x 1 sample/s)"), (100.0, "100x")):
            path = tmp / f"bench_{int(mult)}.sqlite3"
            url = a.url or sqlite_url(path)
            res = run(url, None if a.url else path, a.cameras, a.seconds, mult)
            offered = res["records"] / res["produce_s"]
            achieved = res["written"] / res["drain_s"]
            keeps_up = res["flushed"] and res["dropped"] == 0 and res["drain_s"] - res["produce_s"] < 2.0
            print(f"== {label}: {res['records']} records in {res['produce_s']:.1f} s (offered {offered:,.0f}/s)")
            print(f"   caller time in store API: p50 {res['p50_us']:.1f} us, p99 {res['p99_us']:.1f} us, "
                  f"max {res['max_us']:.0f} us")  # fmt: skip
            print(f"   writer: {res['written']} written, {res['dropped']} dropped, queue peak {res['queue_max_seen']}, "
                  f"drained {res['drain_s'] - res['produce_s']:.2f} s after the producer stopped; "
                  f"throughput {achieved:,.0f} rows/s -> keeps up: {'YES' if keeps_up else 'NO'}")  # fmt: skip
            if "db_bytes" in res:
                camera_seconds = a.cameras * res["rounds"]
                per_day = res["db_bytes"] / camera_seconds * 86400
                print(f"   database: {res['db_bytes'] / 1e6:.1f} MB for {camera_seconds} camera-seconds -> "
                      f"{per_day / 1e6:.1f} MB per camera-day of raw 1 s samples (+ events)")  # fmt: skip
                if mult == 100.0:
                    roll = (1440 * 30 + 24 * 365) * 90  # ~90 bytes per roll-up row incl. index
                    print(f"   steady state with default retention (raw 24 h, 1-min 30 d, 1-h 1 y): about "
                          f"{per_day / 1e6:.1f} MB raw + {roll / 1e6:.1f} MB roll-ups per camera "
                          f"(~{(per_day + roll) * a.cameras / 1e9:.2f} GB for {a.cameras} cameras)")  # fmt: skip
        if a.burst > 0:
            path = tmp / "bench_capacity.sqlite3"
            cap = capacity(a.url or sqlite_url(path), a.cameras, a.burst)
            rate = cap["written"] / cap["seconds"]
            ok = cap["flushed"] and cap["dropped"] == 0 and rate >= required
            # from the first submit to the last commit (the writer drains while the loop queues): a lower bound
            print(f"== writer capacity: {cap['written']:,} rows queued as fast as possible, all committed after "
                  f"{cap['seconds']:.1f} s -> at least {rate:,.0f} rows/s ({cap['dropped']} dropped)")  # fmt: skip
            print(f"100x keep-up: writer {rate:,.0f} rows/s vs required {required:,.0f} rows/s "
                  f"({a.cameras} cameras x 1 sample/s x 100 + state changes) -> {rate / required:.1f}x the 100x load: "
                  f"{'KEEPS UP' if ok else 'FALLS BEHIND'}")  # fmt: skip
    finally:
        for p in tmp.glob("*"):
            os.unlink(p)
        tmp.rmdir()
    return 0


if __name__ == "__main__":
    sys.exit(main())
