"""``vigil --self-test``: prove that this installation (a source checkout or a built bundle) works.

Each check prints one line with its time, e.g. ``PASS  demo source decodes   0.41 s  320x180 RGB``,
and the run exits 0 only if every check passed. A failed check says what failed in words and the
run goes on, so one report lists everything that is broken on the machine.

The checks here import no Qt (``app/`` is Qt-free, see the import-linter contract). The composition
root passes in the checks that need Qt (rendering a tile offscreen, ``widgets/selftest_render.py``)
as plain callables, so ``app/`` never reaches for ``widgets/``.
"""

from __future__ import annotations

import importlib
import logging
import os
import platform
import sys
import tempfile
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from app import __version__
from app.paths import resource_dir

DEMO_URL = "demo://selftest?pattern=testsrc2&size=320x180&rate=15"
FRAME_TIMEOUT_S = 30.0  # generous: a cold start on a busy 2-core machine


class CheckFailed(Exception):
    """A check found a problem; the message is what the operator reads."""


@dataclass
class SelfTestContext:
    """Shared between checks: a temp dir and what earlier checks produced (e.g. the decoded frame)."""

    workdir: Path
    values: dict[str, Any] = field(default_factory=dict)


Check = Callable[[SelfTestContext], str]  # returns a short detail; raises on failure


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    seconds: float
    detail: str


# --------------------------------------------------------------------------- the core checks


def check_environment(ctx: SelfTestContext) -> str:
    frozen = "bundle" if getattr(sys, "frozen", False) else "source"
    return (
        f"Vigil {__version__} ({frozen}), Python {platform.python_version()}, {platform.system()} {platform.machine()}"
    )


def check_resources(ctx: SelfTestContext) -> str:
    rdir = resource_dir()
    if not rdir.is_dir():
        raise CheckFailed(f"resources folder missing: {rdir}")
    files = [p for p in rdir.rglob("*") if p.is_file()]
    if not files:
        raise CheckFailed(f"resources folder is empty: {rdir}")
    return f"{len(files)} files in {rdir}"


# Every library the app needs at run time, imported by name: in a bundle this catches a module that
# PyInstaller's analysis missed before an operator finds it by a crash.
REQUIRED_LIBRARIES = (
    "av",
    "numpy",
    "cv2",
    "sqlalchemy",
    "alembic",
    "pydantic",
    "platformdirs",
    "prometheus_client",
    "m3u8",
    "psutil",
    "requests",
)


def check_libraries(ctx: SelfTestContext) -> str:
    missing, versions = [], []
    for name in REQUIRED_LIBRARIES:
        try:
            mod = importlib.import_module(name)
        except Exception as e:  # ImportError, or a broken shared library (OSError)
            missing.append(f"{name} ({type(e).__name__}: {e})")
            continue
        ver = getattr(mod, "__version__", None)
        versions.append(f"{name} {ver}" if ver else name)
    if missing:
        raise CheckFailed("cannot import " + "; ".join(missing))
    short = {"av", "numpy", "cv2", "sqlalchemy"}
    return ", ".join(v for v in versions if v.split()[0] in short)


def check_demo_source(ctx: SelfTestContext) -> str:
    """Open a synthetic demo camera through the real pipeline and wait for a decoded, scaled frame."""
    from app.pipeline.pipeline import CameraPipeline

    pipe = CameraPipeline("selftest", "Self-test", DEMO_URL)
    pipe.set_output_size(320, 180)
    pipe.start()
    try:
        deadline = time.monotonic() + FRAME_TIMEOUT_S
        frame = None
        while frame is None and time.monotonic() < deadline:
            frame = pipe.slot.peek()
            if frame is None:
                time.sleep(0.05)
        snap = pipe.snapshot()
    finally:
        pipe.stop(timeout=10)
    if frame is None:
        raise CheckFailed(f"no frame within {FRAME_TIMEOUT_S:.0f} s (stream {snap.state}: {snap.reason})")
    img = frame.image
    # display frames are BGRA (4 channels; packed RGB in older builds): anything else is a broken build
    if img.ndim != 3 or img.shape[2] not in (3, 4) or img.dtype.name != "uint8":
        raise CheckFailed(f"decoded frame has an unexpected layout: shape {img.shape}, {img.dtype}")
    if int(img.max()) == int(img.min()):
        raise CheckFailed("decoded frame is a single flat colour (the decoder produced no picture)")
    ctx.values["frame"] = img
    ttff = f", first frame {snap.time_to_first_frame_s:.2f} s" if snap.time_to_first_frame_s else ""
    layout = "BGRA" if img.shape[2] == 4 else "RGB"
    return f"{frame.width}x{frame.height} {layout} from {snap.codec or 'lavfi'}{ttff}"


def check_store(ctx: SelfTestContext) -> str:
    """Write and read back through the real store (writer thread, migrations) on a fresh SQLite file."""
    from app.store import self_test

    return self_test(ctx.workdir / "selftest.sqlite3")


def check_migrations(ctx: SelfTestContext) -> str:
    """The Alembic migration scripts are present (a bundle that lost them cannot create or upgrade a database)."""
    from app.store import db

    try:
        base = db.migrations_dir()
    except Exception as e:  # StoreError: says in words what is missing
        raise CheckFailed(str(e)) from None
    scripts = sorted(p.name for p in (base / "versions").glob("*.py")) if (base / "versions").is_dir() else []
    if not scripts:
        raise CheckFailed(f"no migration scripts in {base / 'versions'}")
    head = db.head_revision()
    return f"{len(scripts)} migration scripts, head revision {head}"


CORE_CHECKS: tuple[tuple[str, Check], ...] = (
    ("environment", check_environment),
    ("resources", check_resources),
    ("libraries import", check_libraries),
    ("demo source decodes", check_demo_source),
    ("store migrations", check_migrations),
    ("store write+read", check_store),
)


# --------------------------------------------------------------------------- running


def run_checks(checks: Sequence[tuple[str, Check]], out: TextIO | None = None) -> list[CheckResult]:
    out = out or sys.stdout
    results: list[CheckResult] = []
    width = max(len(n) for n, _ in checks)
    with tempfile.TemporaryDirectory(prefix="vigil-selftest-") as tmp:
        ctx = SelfTestContext(workdir=Path(tmp))
        for name, fn in checks:
            t0 = time.perf_counter()
            try:
                detail, ok = fn(ctx), True
            except CheckFailed as e:
                detail, ok = str(e), False
            except Exception as e:  # an unexpected crash is a failure with its cause, not a traceback dump
                where = traceback.extract_tb(e.__traceback__)[-1]
                detail = f"{type(e).__name__}: {e} (at {Path(where.filename).name}:{where.lineno})"
                ok = False
            dt = time.perf_counter() - t0
            results.append(CheckResult(name, ok, dt, detail))
            print(f"{'PASS' if ok else 'FAIL'}  {name:<{width}}  {dt:6.2f} s  {detail}", file=out, flush=True)
    return results


def run_self_test(extra_checks: Sequence[tuple[str, Check]] = (), out: TextIO | None = None) -> int:
    """Run the core checks plus *extra_checks* (given by main.py: those needing Qt). 0 = all passed."""
    out = out or sys.stdout
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # its plugin set-up chatter hides the report
    t0 = time.perf_counter()
    results = run_checks([*CORE_CHECKS, *extra_checks], out)
    failed = [r.name for r in results if not r.ok]
    total = time.perf_counter() - t0
    if failed:
        print(f"self-test FAILED: {len(failed)} of {len(results)} checks ({', '.join(failed)}) in {total:.1f} s",
              file=out, flush=True)  # fmt: skip
        return 1
    print(f"self-test passed: {len(results)} checks in {total:.1f} s", file=out, flush=True)
    return 0
