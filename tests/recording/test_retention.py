"""Retention: the pure policy, and the job on real files under a small cap."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

from app.recording.retention import DAY, GB, RetentionPolicy, RetentionService, days_available, plan_deletions
from app.recording.segments import Segment, part_path, scan_segments, set_locked

NOW = 1_700_000_000.0


def seg(i: int, start: float, size: int = 100, locked: bool = False, cam: str = "cam1") -> Segment:
    return Segment(cam, f"/r/{cam}/{i}.mp4", start, start + 10, size, False, locked)


def test_deletes_everything_older_than_max_age_and_nothing_else():
    segs = [seg(0, NOW - 40 * DAY), seg(1, NOW - 31 * DAY), seg(2, NOW - 29 * DAY), seg(3, NOW - 60)]
    plan = plan_deletions(segs, RetentionPolicy(max_age_days=30, min_free_gb=0), now=NOW, disk_free_bytes=10 * GB)
    assert [s.path for s in plan.delete] == ["/r/cam1/0.mp4", "/r/cam1/1.mp4"]
    assert plan.targets_met


def test_cap_deletes_oldest_first_until_under_cap_skipping_locked_and_open():
    segs = [seg(i, NOW - 1000 + i * 10, size=GB // 4, locked=(i == 0)) for i in range(8)]  # 2 GB total
    plan = plan_deletions(segs, RetentionPolicy(max_age_days=30, min_free_gb=0, max_total_gb=1.0), now=NOW,
                          disk_free_bytes=100 * GB, open_paths=frozenset({"/r/cam1/1.mp4"}))  # fmt: skip
    assert [s.path for s in plan.delete] == [f"/r/cam1/{i}.mp4" for i in (2, 3, 4, 5)]
    assert plan.targets_met


def test_min_free_space_and_unmeetable_target_is_reported():
    segs = [seg(i, NOW - 100 + i, size=GB, locked=i < 2) for i in range(3)]
    plan = plan_deletions(segs, RetentionPolicy(min_free_gb=10), now=NOW, disk_free_bytes=5 * GB)
    assert [s.path for s in plan.delete] == ["/r/cam1/2.mp4"]
    assert not plan.targets_met and "locked" in plan.reason


def test_days_available_from_rate_and_space():
    # 1 GB per day recorded over 2 days, 8 GB free, keep 2 GB -> (2 + 6) GB / 1 GB a day = 8 days
    segs = [Segment("c", "/a", NOW - 2 * DAY, NOW - DAY, GB), Segment("c", "/b", NOW - DAY, NOW, GB)]
    d = days_available(segs, RetentionPolicy(max_age_days=30, min_free_gb=2), disk_free_bytes=8 * GB)
    assert d is not None and abs(d - 8.0) < 0.01
    capped = days_available(
        segs, RetentionPolicy(max_age_days=30, min_free_gb=2, max_total_gb=4), disk_free_bytes=8 * GB
    )
    assert capped is not None and abs(capped - 4.0) < 0.01
    assert days_available([], RetentionPolicy(), disk_free_bytes=GB) is None


def _make_files(root: Path, n: int, size: int, start: float) -> list[Path]:
    out = []
    for i in range(n):
        part = part_path(root, "cam1", start + i * 10)
        part.parent.mkdir(parents=True, exist_ok=True)
        final = part.with_name(part.name.removesuffix(".mp4.part") + "_10000.mp4")
        final.write_bytes(b"\0" * size)
        out.append(final)
    return out


def test_retention_job_deletes_the_right_files_under_a_small_cap(tmp_path):
    files = _make_files(tmp_path, 10, 100_000, NOW - 3600)  # 1 MB of segments
    set_locked(files[0], True)
    open_part = part_path(tmp_path, "cam1", NOW)  # a segment being written
    open_part.write_bytes(b"\0" * 100_000)
    settings = SimpleNamespace(max_age_days=30.0, min_free_gb=0.0, max_total_gb=450_000 / GB, cleanup_interval_s=60)
    svc = RetentionService(settings, tmp_path, disk_usage=lambda p: (100 * GB, 50 * GB, 50 * GB))
    plan = svc.run_once(now=NOW)
    remaining = {Path(s.path) for s in scan_segments(tmp_path)}
    # 1,000,000 bytes -> cap 450,000: delete the 6 oldest unlocked (files[1..6]) and keep the locked one
    assert [Path(s.path) for s in plan.delete] == files[1:7]
    assert remaining == {files[0], *files[7:]}
    assert open_part.exists()
    st = svc.status()
    assert st.segments == 4 and st.recordings_bytes == 400_000 and st.deleted_total == 6 and st.error == ""


def test_retention_service_thread_runs_and_stops(tmp_path):
    files = _make_files(tmp_path, 3, 10, NOW - 90 * DAY)
    settings = SimpleNamespace(max_age_days=30.0, min_free_gb=0.0, max_total_gb=0.0, cleanup_interval_s=0.05)
    svc = RetentionService(settings, tmp_path)
    svc.start()
    try:
        import time

        deadline = time.monotonic() + 20
        while any(f.exists() for f in files) and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        svc.stop()
    assert not any(f.exists() for f in files)
    assert svc.status().free_bytes > 0


def _store_rows(store, cam: str = "cam1") -> dict[str, bool]:
    from app.store import repository

    assert store.flush(30)
    return {r["path"]: r["locked"] for r in store.query(repository.recording_segments, cam, 0, 2e9).result(30)}


def test_locked_segment_survives_retention_and_the_store_mirrors_the_marker(tmp_path):
    from app.recording.index import MirroredIndex
    from app.recording.segments import DirectoryIndex, is_locked, lock_segment, parse_segment
    from app.store import Store
    from app.store.db import sqlite_url

    store = Store(sqlite_url(tmp_path / "history.sqlite3"))
    store.start()
    try:
        root = tmp_path / "rec"
        index = MirroredIndex(DirectoryIndex(root), lambda: store)
        files = _make_files(root, 6, 100_000, NOW - 3600)
        for f in files:
            index.add_segment(parse_segment(f))
        lock_segment(files[0], True, index)  # what the player's "Lock segment" action calls
        assert is_locked(files[0]) and parse_segment(files[0]).locked
        assert _store_rows(store) == {str(f): f == files[0] for f in files}
        # the operator locks files[1] while a retention run is between its scan and its deletions
        late = []

        def disk_usage(_p):
            if not late:
                lock_segment(files[1], True, index)
                late.append(True)
            return (100 * GB, 50 * GB, 50 * GB)

        settings = SimpleNamespace(max_age_days=30.0, min_free_gb=0.0, max_total_gb=150_000 / GB,
                                   cleanup_interval_s=60)  # fmt: skip
        svc = RetentionService(settings, root, index, disk_usage=disk_usage)
        svc.run_once(now=NOW)
        assert {Path(s.path) for s in scan_segments(root)} == {files[0], files[1]}  # both locks held
        assert _store_rows(store) == {str(files[0]): True, str(files[1]): True}
        lock_segment(files[0], False, index)
        assert _store_rows(store)[str(files[0])] is False
        svc.run_once(now=NOW)  # unlocked: now the cap takes it
        assert not files[0].exists() and files[1].exists()
        assert _store_rows(store) == {str(files[1]): True}
    finally:
        store.stop()


def test_locking_a_segment_that_is_gone_says_so(tmp_path):
    import pytest

    from app.recording.segments import lock_segment

    with pytest.raises(FileNotFoundError, match="no longer exists"):
        lock_segment(tmp_path / "cam1_20240101T000000_000Z_10000.mp4", True)
    assert not list(tmp_path.iterdir())  # no orphan marker
