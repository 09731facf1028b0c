"""Start-up reconciliation of the segment index with the files on disk (``app.recording.index``).

Real segment files (recorded by the real recorder from the lab clip, or copies of such files under other
names), a real SQLite history store, and Vigil started through the composition root (``add_store`` +
``add_recording``) as a restart does. The index must find again what a run with a dead database left out
of the store, drop the rows of files deleted behind Vigil's back, change nothing in a clean archive, and
say in words (never crash on) what in the folder is not a recording."""

from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from app.compose import add_recording, add_store
from app.config import AppConfig, RecordingSettings
from app.paths import Paths
from app.pipeline.pipeline import CameraPipeline
from app.recording.index import (
    IndexReconciler,
    MirroredIndex,
    ReconcileResult,
    missing_disk,
    mount_point,
    plan_reconcile,
)
from app.recording.playback import Timeline, decode_at
from app.recording.recorder import CameraRecorder
from app.recording.segments import (
    DirectoryIndex,
    Segment,
    final_path,
    lock_segment,
    parse_segment,
    part_path,
    scan_segments,
)
from app.runtime import Runtime
from app.store import db, repository
from app.store.service import Store
from tests.helpers import wait_for

pytestmark = pytest.mark.lab

T0 = 1_700_000_000.0  # 2023-11-14T22:13:20Z: the copied archives start here (one day folder)
HANG_S = 120  # hang check only: every reconciliation here takes seconds


def _paths(tmp_path: Path) -> Paths:
    return Paths(tmp_path / "vigil.json", tmp_path / "data", tmp_path / "rec", tmp_path / "logs")


def _restart(paths: Paths) -> tuple[Runtime, ReconcileResult]:
    """Vigil started again on the same data folder (no camera: only the index is under test); returns the
    running runtime (stop it) and what the start-up reconciliation did, once it finished."""
    # retention runs too: told to keep everything (the copied archives are named in 2023)
    cfg = AppConfig(cameras=[], recording=RecordingSettings(reserve_mb=0, min_free_gb=0, max_age_days=36_500))
    rt = Runtime(config=cfg, paths=paths)
    add_store(rt)
    add_recording(rt)
    rt.start()
    try:
        reconciler = rt.recording.reconciler
        assert reconciler is not None and reconciler.done.wait(HANG_S), "the reconciliation did not finish"
        assert reconciler.result is not None
        return rt, reconciler.result
    except BaseException:
        rt.stop()
        raise


def _rows(rt: Runtime, camera: str, start: float = 0, end: float = 2e9) -> dict[str, dict]:
    return {r["path"]: r for r in rt.store.query(repository.recording_segments, camera, start, end).result(30)}


def _copy_archive(segs: list[Segment], root: Path, n: int, t0: float = T0) -> list[Segment]:
    """*n* real segment files of camera "play" under *root*: copies of the recorded ones, named 10 s apart."""
    out = []
    for i in range(n):
        src = segs[i % len(segs)]
        part = part_path(root, "play", t0 + 10.0 * i)
        part.parent.mkdir(parents=True, exist_ok=True)
        dst = final_path(part, src.duration)
        shutil.copyfile(src.path, dst)
        out.append(parse_segment(dst))
    return out


# ------------------------------------------------------------------------------------------ pure planning
def _seg(path: str, start: float = 100.0, size: int = 10, locked: bool = False) -> Segment:
    return Segment("cam", path, start, start + 2.0, size, False, locked)


def _row(seg: Segment, path: str | None = None, **changes) -> dict:
    row = {"path": path or seg.path, "camera_id": seg.camera_id, "started_at": seg.start, "ended_at": seg.end,
           "size_bytes": seg.size_bytes, "locked": seg.locked}  # fmt: skip
    return {**row, **changes}


def test_the_plan_adds_files_without_rows_removes_rows_without_files_and_corrects_what_differs():
    a, b, c, d = (_seg(f"/r/cam/day/cam_{i}.mp4", 100.0 + i) for i in range(4))
    on_disk = {s.path: s for s in (a, b, c, d)}
    rows = [
        _row(a, started_at=a.start + 0.0009),  # the recorder's exact start vs the name's ms: the same
        _row(b, locked=True),  # the marker (the truth) says unlocked: corrected
        _row(_seg("/r/cam/day/cam_gone.mp4")),  # file gone
        _row(_seg("/r/cam/day/cam_new.mp4")),  # not in the survey but on disk now (closed since): kept
        _row(c, path="/old-root/cam/day/cam_2.mp4"),  # the folder moved: the old path is gone
        _row(_seg("/elsewhere/cam_x.mp4")),  # outside the recordings folder, file still there: kept
    ]
    present = {"/r/cam/day/cam_new.mp4", "/elsewhere/cam_x.mp4"}
    plan = plan_reconcile(on_disk, rows, exists=present.__contains__)
    assert plan.add == (c, d)
    assert plan.update == (b,)
    assert set(plan.vanished) == {"/r/cam/day/cam_gone.mp4", "/old-root/cam/day/cam_2.mp4"}
    assert plan.unchanged == 3


def test_a_row_under_another_spelling_of_the_root_matches_its_file():
    a = _seg("/real/cam/day/cam_1.mp4")
    plan = plan_reconcile({a.path: a}, [_row(a, path="/link/cam/day/cam_1.mp4")], exists=lambda p: True)
    assert plan.add == () and plan.vanished == () and plan.unchanged == 1


# --------------------------------------------------------------------------------- (a) a dead database
def test_segments_left_out_by_a_dead_database_are_in_the_store_after_a_restart_and_play(lab_clip, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    paths = _paths(tmp_path)
    paths.data_dir.mkdir(parents=True)
    root = paths.recordings_dir
    # the run with a dead database: the real recorder writes 1 s segments through the index Vigil uses;
    # the store takes the first ones, then dies (stopped: every later row is refused, as a dead one does)
    store = Store(db.sqlite_url(paths.database_file), periodic_maintenance=False)
    store.start()
    assert store.wait_ready(60), store.status().message
    index = MirroredIndex(DirectoryIndex(root), lambda: store)
    pipe = CameraPipeline("dock", "Dock", f"file://{lab_clip}")
    rec = CameraRecorder("dock", root, segment_seconds=1.0, reserve_mb=0, index=index)
    pipe.add_packet_sink(rec)
    rec.start()
    pipe.start()
    try:
        wait_for(lambda: len(index.directory.added) >= 2, timeout=90, what=f"2 closed segments ({rec.status()})")
        assert store.flush(30)
        store.stop()  # the database is gone for the rest of the run
        wait_for(lambda: len(index.directory.added) >= 6, timeout=90, what=f"6 closed segments ({rec.status()})")
    finally:
        pipe.stop()
        rec.stop()
    assert any("history store did not take a segment" in r.getMessage() for r in caplog.records)
    on_disk = {s.path: s for s in scan_segments(root, "dock")}
    missing = sorted(set(on_disk) - set(_db_rows(paths)), key=lambda p: on_disk[p].start)
    assert len(missing) >= 4, (missing, on_disk)  # what the acceptance run found: closed segments not indexed
    caplog.clear()

    rt, result = _restart(paths)
    try:
        rows = _rows(rt, "dock")
        assert set(rows) == set(on_disk), (set(on_disk) - set(rows), set(rows) - set(on_disk))
        assert (result.added, result.vanished, result.unchanged) == (len(missing), 0, len(on_disk) - len(missing))
        assert not result.incomplete, result
        assert (f"segment index reconciled: {len(missing)} files added, 0 vanished rows removed, "
                f"{len(on_disk) - len(missing)} unchanged, in ") in caplog.text  # fmt: skip
        # findable: by the store's search (camera + time range) and on the player's timeline ...
        for p in missing:
            seg = on_disk[p]
            hits = _rows(rt, "dock", seg.start + 0.01, seg.end - 0.01)
            assert p in hits and hits[p]["size_bytes"] == seg.size_bytes, hits
        timeline = Timeline("dock", tuple(rt.recording.index.segments("dock")))
        assert {s.path for s in timeline.segments} == set(on_disk)
        # ... and playable: the last segment the dead store refused decodes at its middle
        last = on_disk[missing[-1]]
        i, offset = timeline.locate((last.start + last.end) / 2)
        assert timeline.segments[i].path == last.path
        assert decode_at(last.path, offset) is not None
    finally:
        rt.stop()
    # a second restart finds a clean archive: nothing to do, nothing rewritten (the recorder's exact rows too)
    before = _snapshot(paths)
    caplog.clear()
    rt, again = _restart(paths)
    try:
        assert (again.added, again.vanished, again.updated, again.unchanged) == (0, 0, 0, len(on_disk)), again
    finally:
        rt.stop()
    assert _snapshot(paths) == before
    assert f"segment index reconciled: 0 files added, 0 vanished rows removed, {len(on_disk)} unchanged" in caplog.text


def _db_rows(paths: Paths) -> dict[str, dict]:
    """The segment rows of the real SQLite file, read while no Vigil runs."""
    engine = create_engine(db.sqlite_url(paths.database_file))
    try:
        with engine.connect() as conn:
            return {r["path"]: r for r in repository.recording_segment_index(conn)}
    finally:
        engine.dispose()


def _snapshot(paths: Paths) -> tuple[list, dict]:
    """Every segment row, all columns (its id too: a rewrite would show), and every file of the folder."""
    engine = create_engine(db.sqlite_url(paths.database_file))
    try:
        with engine.connect() as conn:
            rows = sorted(tuple(r) for r in conn.execute(text("SELECT * FROM recording_segments")))
    finally:
        engine.dispose()
    files = {str(p): (p.stat().st_size, p.stat().st_mtime_ns) for p in paths.recordings_dir.rglob("*") if p.is_file()}
    return rows, files


# ------------------------------------------------------------------------ (b) deleted behind Vigil's back
def test_a_file_deleted_behind_vigils_back_loses_its_row_and_is_not_offered(recorded, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _root, _index, segs = recorded
    paths = _paths(tmp_path)
    archive = _copy_archive(segs, paths.recordings_dir, 6)
    rt, first = _restart(paths)
    try:
        assert first.added == 6, first
        lock_segment(archive[3].path, True, rt.recording.index)  # the operator locked this one
        assert rt.store.flush(30) and _rows(rt, "play")[archive[3].path]["locked"] is True
    finally:
        rt.stop()
    gone, gone_locked = archive[1], archive[3]
    os.unlink(gone.path)  # behind Vigil's back (another program, a person)
    os.unlink(gone_locked.path)  # its lock marker stays
    caplog.clear()

    rt, result = _restart(paths)
    try:
        # the locked one's row goes with its marker (the survey, before the rows are read) when the store takes
        # that removal at once, else with the other vanished row: either way both rows are gone
        assert (result.added, result.unchanged) == (0, 4) and result.vanished in (1, 2), result
        assert result.orphan_locks == 1
        rows = _rows(rt, "play")
        assert set(rows) == {s.path for s in archive} - {gone.path, gone_locked.path}
        for seg in (gone, gone_locked):  # not offered: neither by the store's search ...
            assert seg.path not in _rows(rt, "play", seg.start, seg.end)
        offered = {s.path for s in rt.recording.index.segments("play")}  # ... nor by the player
        assert offered == set(rows)
        assert not Path(gone_locked.path + ".locked").exists()
    finally:
        rt.stop()
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("no longer on disk (deleted outside Vigil?)" in w and gone.path in w for w in warnings), warnings
    assert any("locked by the operator is gone" in w and gone_locked.path in w for w in warnings), warnings
    assert (f"segment index reconciled: 0 files added, {result.vanished} vanished "
            f"{'row' if result.vanished == 1 else 'rows'} removed, 4 unchanged") in caplog.text  # fmt: skip


# ----------------------------------------------------------------------------------- (c) a clean archive
def test_a_clean_archive_is_left_as_it_is(recorded, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _root, _index, segs = recorded
    paths = _paths(tmp_path)
    archive = _copy_archive(segs, paths.recordings_dir, 5)
    lock_segment(archive[2].path, True)  # a lock marker the store has never heard of
    rt, first = _restart(paths)
    try:
        assert first.added == 5 and _rows(rt, "play")[archive[2].path]["locked"] is True
    finally:
        rt.stop()
    before = _snapshot(paths)
    caplog.clear()
    rt, result = _restart(paths)
    try:
        assert (result.added, result.vanished, result.updated, result.unchanged) == (0, 0, 0, 5), result
        assert not (result.skipped or result.left_alone or result.orphan_locks or result.incomplete), result
    finally:
        rt.stop()
    assert _snapshot(paths) == before
    assert "segment index reconciled: 0 files added, 0 vanished rows removed, 5 unchanged, in " in caplog.text
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING and "segment" in r.getMessage()]


# ------------------------------------------------------------------------------------ (d) garbage files
def test_garbage_in_the_recordings_folder_is_reported_in_words_and_skipped(recorded, tmp_path, caplog):
    _root, _index, segs = recorded
    paths = _paths(tmp_path)
    root = paths.recordings_dir
    good = _copy_archive(segs, root, 3)
    day = Path(good[0].path).parent

    def named(start: float, ms: int = 2000) -> Path:
        return final_path(part_path(root, "play", start), ms / 1000)

    noise = named(T0 + 1000)
    noise.write_bytes(os.urandom(20_000))  # random bytes under a segment's name
    empty = named(T0 + 1010)
    empty.touch()
    torn = named(T0 + 1020)
    torn.write_bytes(Path(good[0].path).read_bytes()[:600])  # the head of a real one: no fragment
    fifo = day / named(T0 + 1030).name  # reading a FIFO would block for ever
    os.mkfifo(fifo)
    folder = day / named(T0 + 1040).name
    folder.mkdir()
    dangling = day / named(T0 + 1050).name
    dangling.symlink_to(tmp_path / "nowhere.mp4")
    bad_date = day / "play_20251399T000000_000Z_2000.mp4"  # named as ours, a date that does not exist
    shutil.copyfile(good[0].path, bad_date)
    (day / "notes.txt").write_text("camera moved on 3 March\n")
    (root / "README").write_text("recordings of site 4\n")
    (root / "Camera X").mkdir()
    (root / "play" / "old stuff").mkdir()
    torn_part = part_path(root, "play", T0 + 1060)  # a .part recovery cannot read: it leaves it
    torn_part.write_bytes(b"\x00\x00\x00\x10junkjunkjunk" * 10)
    caplog.set_level(logging.INFO)

    rt, result = _restart(paths)
    try:
        assert result.added == 3, result
        skipped = {line.split(": ", 1)[0]: line.split(": ", 1)[1] for line in result.skipped}
        assert set(skipped) == {str(noise), str(empty), str(torn)}, result.skipped
        assert "not laid out as a recorded segment" in skipped[str(noise)]
        assert "nothing in it can be played" in skipped[str(empty)]
        assert "nothing in it can be played" in skipped[str(torn)]
        left = " ".join(result.left_alone)
        for p in (fifo, folder, dangling, bad_date, day / "notes.txt", root / "README", root / "Camera X",
                  root / "play" / "old stuff"):  # fmt: skip
            assert str(p) in left, (p, result.left_alone)
        assert str(torn_part) not in left  # recovery said why it left it; not said twice
        rows = _rows(rt, "play")
        assert set(rows) == {s.path for s in good}
        assert {s.path for s in rt.recording.index.segments("play")} == {s.path for s in good}  # never offered
        assert all(p.exists() for p in (noise, empty, torn, bad_date))  # skipped, never deleted
    finally:
        rt.stop()
    text_ = caplog.text
    assert f"segment index: skipped {noise}: not laid out as a recorded segment" in text_
    assert "3 unplayable files skipped" in text_ and "8 entries that are not recordings left alone" in text_
    assert "recordings folder: 8 entries are not recordings, left alone:" in text_


# ------------------------------------------------------------------------- a store that does not open
def test_a_dead_database_at_start_up_delays_nothing_and_the_reconciliation_stops_in_bounded_time(
    recorded, tmp_path, caplog
):
    _root, _index, segs = recorded
    root = tmp_path / "rec"
    _copy_archive(segs, root, 3)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")  # the database would live in a folder that is a file: it never opens
    store = Store(db.sqlite_url(blocker / "vigil.sqlite3"), periodic_maintenance=False)
    store.start()
    reconciler = IndexReconciler(MirroredIndex(DirectoryIndex(root), lambda: store), root, store_wait_say_s=0.5)
    t0 = time.monotonic()
    reconciler.start()
    assert time.monotonic() - t0 < 2.0  # hang check: start() hands everything to its thread
    try:
        wait_for(lambda: reconciler.done.is_set() or "not open yet" in caplog.text, timeout=30,
                 what="the reconciliation to say it waits, or to give up")  # fmt: skip
        t1 = time.monotonic()
        reconciler.stop(5.0)
        assert time.monotonic() - t1 < 10.0  # hang check
        assert reconciler.done.is_set()
        result = reconciler.result
        assert result.on_disk == 3 and result.added == 0 and result.incomplete, result
    finally:
        store.stop(drain_timeout_s=1.0)
    assert "segment index: the history store is not open yet (" in caplog.text
    assert "stopped before the history store opened" in caplog.text


def test_a_database_that_opens_late_is_reconciled_once_it_opens(recorded, tmp_path, caplog):
    _root, _index, segs = recorded
    root = tmp_path / "rec"
    archive = _copy_archive(segs, root, 3)
    blocker = tmp_path / "db"
    blocker.write_text("")  # the database's folder is a file for now
    store = Store(db.sqlite_url(blocker / "vigil.sqlite3"), periodic_maintenance=False)
    store.start()
    reconciler = IndexReconciler(MirroredIndex(DirectoryIndex(root), lambda: store), root, store_wait_say_s=0.2)
    reconciler.start()
    try:
        wait_for(lambda: "not open yet" in caplog.text, timeout=30, what="the reconciliation to say it waits")
        late = _copy_archive(segs, root, 1, t0=T0 + 500)  # recorded while the store was down
        blocker.unlink()
        blocker.mkdir()  # the writer's next retry opens it
        assert reconciler.done.wait(HANG_S)
        result = reconciler.result
        assert (result.added, result.vanished, result.incomplete) == (4, 0, ""), result
        assert result.waited_s >= 0.2
        rows = {r["path"] for r in store.query(repository.recording_segments, "play", 0, 2e9).result(30)}
        assert rows == {s.path for s in archive + late}  # the folder was surveyed again after the wait
    finally:
        reconciler.stop()
        store.stop(drain_timeout_s=1.0)


# ------------------------------------------------------------------------------------- a large archive
def test_a_large_archive_is_reconciled_and_only_the_missing_files_are_written(recorded, tmp_path):
    """3,000 files (hard links of one real segment, 8 cameras), 12 left out of the store, 1 deleted."""
    _root, _index, segs = recorded
    paths = _paths(tmp_path)
    root = paths.recordings_dir
    made = []
    for i in range(3000):
        cam = f"cam{i % 8}"
        p = final_path(part_path(root, cam, T0 + 60.0 * (i // 8)), segs[0].duration)
        p.parent.mkdir(parents=True, exist_ok=True)
        os.link(segs[0].path, p)
        made.append(p)
    rt, first = _restart(paths)
    try:
        assert first.added == 3000 and not first.incomplete, first
        for p in made[100:112]:  # as a dead database leaves them
            rt.store.remove_segment(str(p))
        assert rt.store.flush(30)
    finally:
        rt.stop()
    made[5].unlink()
    rt, result = _restart(paths)
    try:
        assert (result.added, result.vanished, result.unchanged) == (12, 1, 2987), result
        assert sum(len(_rows(rt, f"cam{c}")) for c in range(8)) == 2999
    finally:
        rt.stop()


# ------------------------------------------------------------------- a recordings disk that is not mounted
def test_a_missing_disk_is_told_from_files_deleted_by_hand():
    rows = [f"/mnt/nas/rec/cam/2024-01-0{d}/cam_{i}.mp4" for d in (1, 2) for i in range(15)]
    gone_folders = {"/mnt/nas/rec/cam/2024-01-01", "/mnt/nas/rec/cam/2024-01-02"}
    # the folder holds none of the indexed segments: whatever their number
    why = missing_disk("/mnt/nas/rec", 0, 3412, rows[:1], isdir=lambda d: d not in gone_folders)
    assert why.startswith("the recordings folder /mnt/nas/rec (on the filesystem mounted at /")
    assert "holds none of the 3,412 indexed segments: is its disk mounted? The index is kept" in why
    # most of them gone, day folders and all: the same question
    why = missing_disk("/mnt/nas/rec", 5, 35, rows, isdir=lambda d: d not in gone_folders)
    assert "30 of the 35 indexed segments are missing from the recordings folder /mnt/nas/rec" in why
    # gone one by one, their folders still there: deleted by hand (or by another program): they may go
    assert missing_disk("/mnt/nas/rec", 5, 35, rows, isdir=lambda d: True) == ""
    # a few, or not most: they may go
    assert missing_disk("/mnt/nas/rec", 5, 35, rows[:20], isdir=lambda d: False) == ""
    assert missing_disk("/mnt/nas/rec", 40, 70, rows, isdir=lambda d: False) == ""
    assert missing_disk("/mnt/nas/rec", 0, 3, [], isdir=lambda d: False) == ""


def _unmount(disk: Path, mountpoint: Path) -> None:
    """The recordings disk goes: its files move out of sight, an empty mountpoint stays."""
    mountpoint.rename(disk)
    mountpoint.mkdir()


def _mount(disk: Path, mountpoint: Path) -> None:
    for entry in mountpoint.iterdir():  # what was written on the mountpoint meanwhile is hidden by the mount
        shutil.rmtree(entry)
    mountpoint.rmdir()
    disk.rename(mountpoint)


def test_an_unmounted_recordings_disk_keeps_the_whole_index_until_it_is_back(recorded, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    _root, _index, segs = recorded
    nas = tmp_path / "mnt" / "nas"  # the disk is mounted here; the recordings folder is on it
    paths = Paths(tmp_path / "vigil.json", tmp_path / "data", nas / "vigil", tmp_path / "logs")
    archive = _copy_archive(segs, paths.recordings_dir, 5)
    rt, first = _restart(paths)
    try:
        assert first.added == 5, first
    finally:
        rt.stop()
    before = _snapshot(paths)[0]
    _unmount(tmp_path / "nas-disk", nas)
    caplog.clear()

    rt, result = _restart(paths)
    try:
        assert (result.vanished, result.kept, result.on_disk) == (0, 5, 0), result
        assert set(_rows(rt, "play")) == {s.path for s in archive}  # every row kept
    finally:
        rt.stop()
    warnings = " | ".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    # the start-up said where recordings go now, and why the index was kept
    assert (
        f"recordings folder {paths.recordings_dir} did not exist: created it inside the empty folder {nas}" in warnings
    )
    assert "If a recordings disk belongs there, it is not mounted" in warnings
    assert (f"the recordings folder {paths.recordings_dir.resolve()} (on the filesystem mounted at "
            f"{mount_point(tmp_path)}) holds none of the 5 indexed segments: is its disk mounted? The index is "
            "kept") in warnings  # fmt: skip
    assert "5 rows of missing files kept: is the recordings disk mounted?" in warnings
    assert _snapshot(paths)[0] == before  # not one row touched

    _mount(tmp_path / "nas-disk", nas)
    caplog.clear()
    rt, back = _restart(paths)
    try:
        assert (back.added, back.vanished, back.kept, back.unchanged) == (0, 0, 0, 5), back
        assert not back.incomplete, back
    finally:
        rt.stop()
    assert "segment index reconciled: 0 files added, 0 vanished rows removed, 5 unchanged" in caplog.text


def _link_archive(seg: Segment, root: Path, per_day: dict[int, int]) -> list[Segment]:
    """Hard links of one real segment under *root* (camera "play"): per_day[day] files on day T0 + day."""
    out = []
    for day, n in per_day.items():
        for i in range(n):
            p = final_path(part_path(root, "play", T0 + 86_400 * day + 10.0 * i), seg.duration)
            p.parent.mkdir(parents=True, exist_ok=True)
            os.link(seg.path, p)
            out.append(parse_segment(p))
    return out


def test_most_of_the_archive_gone_with_its_folders_keeps_the_rows_but_files_deleted_by_hand_lose_theirs(
    recorded, tmp_path, caplog
):
    _root, _index, segs = recorded
    paths = _paths(tmp_path)
    archive = _link_archive(segs[0], paths.recordings_dir, {0: 24, 1: 6})
    rt, first = _restart(paths)
    try:
        assert first.added == 30, first
    finally:
        rt.stop()
    by_hand, on_day0 = archive[:3], archive[3:24]
    for s in by_hand:  # deleted one by one: their day folder stays
        os.unlink(s.path)
    rt, result = _restart(paths)
    try:
        assert (result.vanished, result.kept, result.unchanged) == (3, 0, 27), result
    finally:
        rt.stop()
    shutil.rmtree(Path(on_day0[0].path).parent)  # 21 of the 27 indexed segments go, their day folder too
    caplog.clear()
    rt, result = _restart(paths)
    try:
        assert (result.vanished, result.kept, result.unchanged) == (0, 21, 6), result
        assert set(_rows(rt, "play")) == {s.path for s in archive[3:]}
    finally:
        rt.stop()
    assert "21 of the 27 indexed segments are missing from the recordings folder" in caplog.text
    assert "is its disk mounted? Their rows are kept and reconciled at the next start" in caplog.text
