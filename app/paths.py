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
