"""Vigil's entry point: paths -> config -> runtime (composed by ``app.compose``) -> window or headless.

Teardown runs in reverse from one place. ``vigil`` (the installed entry point) and ``python main.py``
both land in :func:`main`.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from app import __version__
from app.config import AppConfig, ConfigError, load_config
from app.demo import demo_config
from app.logs import setup_logging
from app.paths import PRIVATE_UMASK, Paths, make_private
from app.runtime import Runtime

log = logging.getLogger("vigil")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="vigil", description="Video-wall monitoring for RTSP, RTMP and HLS cameras.")
    p.add_argument("--version", action="version", version=f"Vigil {__version__}")
    p.add_argument("--config", metavar="PATH", help="config file (default: the platform's config directory)")
    p.add_argument("--data-dir", metavar="PATH", help="database, recordings and logs (default: platform data dir)")
    p.add_argument("--demo", action="store_true", help="run the built-in demo wall even if a config exists")
    p.add_argument("--headless", action="store_true", help="no window: pipelines, probes and metrics only")
    p.add_argument("--duration", type=float, default=0.0, metavar="S", help="exit after S seconds (0 = run)")
    p.add_argument("--self-test", action="store_true", help="check this installation and exit 0 if it works")
    p.add_argument("--metrics-port", type=int, metavar="PORT", help="override the Prometheus endpoint port")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"])
    return p.parse_args(argv)


def load_or_demo(paths: Paths, force_demo: bool, config_named: bool = False) -> tuple[AppConfig, bool]:
    """The user's config; the demo wall when there is none at the default place (or --demo).

    A config file named on purpose (``--config PATH`` or VIGIL_CONFIG) that does not exist yet is a new
    site: an empty wall whose cameras are saved to PATH. Opening the demo there instead would lose every
    camera the operator adds (the demo never writes the user's file)."""
    if force_demo:
        return demo_config(), True
    if paths.config_file.exists():
        return load_config(paths.config_file), False
    if config_named:
        log.info("no config at %s yet: an empty wall, saved there as cameras are added", paths.config_file)
        return AppConfig(), False
    log.info("no config at %s: opening the demo wall", paths.config_file)
    return demo_config(), True


def build_runtime(args: argparse.Namespace, paths: Paths | None = None) -> Runtime:
    """Everything but the window (``app.compose.build_runtime``). *paths*: already resolved by
    :func:`main` (resolved here if not given)."""
    paths = site_paths = paths or Paths.resolve(args.config, args.data_dir)
    config_named = bool(args.config or os.environ.get("VIGIL_CONFIG"))
    config, demo = load_or_demo(paths, args.demo, config_named=config_named)
    if demo:
        paths = paths.for_demo()  # the demo's history and recordings never mix with a real site's
    if args.metrics_port is not None:
        config.metrics.port = args.metrics_port
    from app import compose  # the whole core (store, codecs, OpenCV): not loaded for --version / --self-test

    make_own_folders_private(site_paths, compose.recordings_root(config, paths), config_named)
    return compose.build_runtime(config, paths, demo)


def make_own_folders_private(paths: Paths, recordings: Path, config_named: bool) -> None:
    """Tighten what an older Vigil (or a person) left readable to others: the data folder (the demo's is
    inside it) and the log folder with everything in them, the recordings root (not its segments: a 0700
    root keeps everyone out), the config file, and the config folder when it is the platform's (a folder
    named with --config may be shared, e.g. a home folder: only the file is changed there). One log line
    says what was changed."""
    single = [paths.config_file] if config_named else [paths.config_file.parent, paths.config_file]
    changed, problems = make_private([paths.data_dir, paths.log_dir], single,
                                     keep_out=[paths.recordings_dir, recordings])  # fmt: skip
    if changed:
        shown = ", ".join(str(t) for t in changed[:8]) + (f" and {len(changed) - 8} more" if len(changed) > 8 else "")
        log.info("made %d files and folders readable by this user only (they were open to others): %s",
                 len(changed), shown)  # fmt: skip
    for p in problems:
        log.warning("cannot make %s private to this user", p)


def run_headless(runtime: Runtime, duration: float) -> int:
    stop = runtime.stop_event
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    runtime.start()
    try:
        stop.wait(duration if duration > 0 else None)
    finally:
        runtime.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    # before anything is created: Vigil's files are its user's only (0600 files, 0700 folders), whoever
    # creates them (SQLite, FFmpeg, the log handler, prometheus_client, a library's temp file)
    os.umask(PRIVATE_UMASK)
    args = parse_args(argv)
    threading.current_thread().name = "main"
    if args.self_test:
        setup_logging(args.log_level)  # the checks use temporary folders: nothing is written to the data dir
        from app.selftest import run_self_test
        from widgets.selftest_render import check_libvlc, render_tile_offscreen  # the checks that need Qt/vlc

        return run_self_test(extra_checks=[("tile renders offscreen", render_tile_offscreen), ("libvlc", check_libvlc)])
    # console + rotating <log dir>/vigil.log, credentials scrubbed (app.logs.ScrubSecrets)
    paths = Paths.resolve(args.config, args.data_dir)
    setup_logging(args.log_level, paths.log_dir)
    try:
        runtime = build_runtime(args, paths)
    except ConfigError as e:
        print(f"vigil: {e}", file=sys.stderr)
        return 2
    if args.headless:
        return run_headless(runtime, args.duration)
    from widgets.application import run_gui  # Qt is imported only for the window

    return run_gui(runtime, duration=args.duration)


if __name__ == "__main__":
    sys.exit(main())
