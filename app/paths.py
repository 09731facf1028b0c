"""Where Vigil keeps things, resolved once at start-up and passed down (no globals)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import platformdirs

APP_NAME = "vigil"


def resource_dir() -> Path:
    """``resources/`` both from a source checkout and from a PyInstaller bundle (sys._MEIPASS)."""
    base = getattr(sys, "_MEIPASS", None)
    if base:
        return Path(base) / "resources"
    return Path(__file__).resolve().parent.parent / "resources"


def resource(name: str) -> Path:
    return resource_dir() / name


@dataclass(frozen=True)
class Paths:
    config_file: Path
    data_dir: Path
    recordings_dir: Path
    log_dir: Path

    @property
    def database_file(self) -> Path:
        return self.data_dir / "vigil.sqlite3"

    def for_demo(self) -> Paths:
        """The demo wall's own data folder (``<data dir>/demo``): its history and recordings never go into
        a real site's database or recordings folder. The config file stays the user's (the demo never
        writes it unless the operator saves the demo wall as their configuration)."""
        data = self.data_dir / "demo"
        return Paths(self.config_file, data, data / "recordings", self.log_dir)

    @classmethod
    def resolve(cls, config_file: str | os.PathLike | None = None, data_dir: str | os.PathLike | None = None) -> Paths:
        """Platform directories, overridable by ``--config``/``--data-dir`` or VIGIL_CONFIG/VIGIL_DATA_DIR."""
        cfg = config_file or os.environ.get("VIGIL_CONFIG")
        data = data_dir or os.environ.get("VIGIL_DATA_DIR")
        cfg_path = Path(cfg) if cfg else Path(platformdirs.user_config_dir(APP_NAME)) / "vigil.json"
        data_path = Path(data) if data else Path(platformdirs.user_data_dir(APP_NAME))
        return cls(
            config_file=cfg_path,
            data_dir=data_path,
            recordings_dir=data_path / "recordings",
            log_dir=Path(platformdirs.user_log_dir(APP_NAME)) if not data else data_path / "logs",
        )


# ---------------------------------------------------------------- private files
#
# Everything Vigil writes (config, database with its -wal/-shm/-journal, logs, recordings and their .part
# files, the metrics textfile, journals, backlogs, exports) is for this user only: main() sets the umask to
# 0o077 before anything is created, so files are born 0600 and folders 0700 (SQLite gives -wal/-shm the
# database's mode). Folders and files made by an older Vigil (or by hand) are tightened once at start-up by
# :func:`make_private`; a folder at 0700 is enough to keep other users out of everything below it, so the
# recordings tree (up to millions of segments) is not walked: only its root is tightened.

PRIVATE_UMASK = 0o077
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


@dataclass(frozen=True)
class Tightened:
    path: Path
    old_mode: int
    new_mode: int

    def __str__(self) -> str:
        return f"{self.path} ({self.old_mode:04o} -> {self.new_mode:04o})"


def _tighten(path: Path, st: os.stat_result, out: list[Tightened], problems: list[str]) -> None:
    import stat

    if st.st_uid != os.getuid() or stat.S_ISLNK(st.st_mode):
        return  # not ours to change (a shared mount, a file root put there); links are not followed
    mode = stat.S_IMODE(st.st_mode)
    if not mode & 0o077:
        return
    new = PRIVATE_DIR_MODE if stat.S_ISDIR(st.st_mode) else (mode & 0o700) or PRIVATE_FILE_MODE
    try:
        os.chmod(path, new)
    except OSError as e:
        problems.append(f"{path}: {e.strerror or e}")
    else:
        out.append(Tightened(path, mode, new))


def make_private(
    trees: list[Path], single: list[Path] = (), keep_out: list[Path] = ()
) -> tuple[list[Tightened], list[str]]:
    """Take group and other permissions away from what Vigil owns: every folder and file under each of
    *trees* (not descending into *keep_out*, whose roots are tightened themselves), and each path in
    *single* (a config file, a config folder). Only entries owned by this user are changed, links are not
    followed, missing paths are skipped. Returns (what was changed, problems in words). No-op on Windows,
    where files get the user's ACLs."""
    changed: list[Tightened] = []
    problems: list[str] = []
    if os.name == "nt":
        return changed, problems
    stop = {os.path.abspath(p) for p in keep_out}
    seen: set[str] = set()

    def one(p: Path) -> None:
        key = os.path.abspath(p)
        if key in seen:
            return
        seen.add(key)
        try:
            st = os.lstat(p)
        except OSError:
            return
        _tighten(p, st, changed, problems)

    for p in [*single, *keep_out]:
        one(Path(p))
    for root in trees:
        one(Path(root))
        for folder, dirs, files in os.walk(root):
            dirs[:] = [d for d in dirs if os.path.abspath(os.path.join(folder, d)) not in stop]
            for name in dirs + files:
                one(Path(folder, name))
    return changed, problems
