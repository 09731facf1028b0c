"""``MetricsExporter`` service: the /metrics HTTP endpoint and the optional textfile export.

* HTTP: ``prometheus_client.start_http_server`` on ``config.metrics.host:port`` (default
  127.0.0.1:9898; port 0 = a free port, read back from :attr:`MetricsExporter.port`), with its own
  registry holding only :class:`VigilCollector` (no process/GC collectors of the default registry, so
  every series on the page is Vigil's). ``metrics.enabled = false`` is the off-switch.
* Textfile: every ``file_interval_s`` the same exposition is written to ``metrics.file_path``
  atomically (a temp file renamed over it, :func:`write_textfile`), for node_exporter's textfile
  collector on sites where no port may be opened. Mode 0600 (this user only), or 0640 with
  ``metrics.file_group_readable`` for a node_exporter running as another user in the file's group.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest, start_http_server

from app.config import MetricsSettings
from app.fileio import write_private_atomic
from app.metrics.collector import VigilCollector
from app.pipeline.state import HealthSnapshot
from probes.base import ProbeResults

log = logging.getLogger(__name__)


def write_textfile(path: str | os.PathLike, data: bytes, mode: int = 0o600) -> None:
    """*data* to *path* atomically (node_exporter never reads half a file), created with *mode* whatever the
    umask (0600: this user only; 0640 for a node_exporter in the file's group). ``prometheus_client``'s
    ``write_to_textfile`` would leave the mode to the umask."""
    write_private_atomic(path, data, mode)


class MetricsExporter:
    def __init__(
        self,
        settings: MetricsSettings,
        snapshots: Callable[[], dict[str, HealthSnapshot]],
        results: ProbeResults | None = None,
        scheduler_stats: Callable[[], dict[str, tuple[int, int]]] | None = None,
        disk_status: Callable[[], object | None] | None = None,
        store_status: Callable[[], object | None] | None = None,
    ) -> None:
        self.settings = settings
        self.registry = CollectorRegistry(auto_describe=False)
        self.collector = VigilCollector(snapshots, results, scheduler_stats, disk_status, store_status)
        self.registry.register(self.collector)
        self._server = None
        self._thread: threading.Thread | None = None
        self._file_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.port: int | None = None

    def exposition(self) -> bytes:
        return generate_latest(self.registry)

    def start(self) -> None:
        s = self.settings
        if not s.enabled:
            log.info("metrics export is off (metrics.enabled = false)")
            return
        self._stop.clear()
        try:
            self._server, self._thread = start_http_server(s.port, addr=s.host, registry=self.registry)
        except OSError as e:
            # a busy port must not take the wall down: say so and keep running without the endpoint
            log.error("metrics endpoint %s:%s could not start: %s", s.host, s.port, e.strerror or e)
        else:
            self.port = self._server.server_address[1]
            self._thread.name = "metrics:http"
            log.info("Prometheus metrics on http://%s:%d/metrics", s.host, self.port)
        if s.file_path:
            self._file_thread = threading.Thread(target=self._file_loop, name="metrics:textfile", daemon=True)
            self._file_thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None
        if self._file_thread is not None:
            self._file_thread.join(5)
            self._file_thread = None
            self.write_file()  # final state on the way out

    def write_file(self) -> bool:
        path = self.settings.file_path
        if not path:
            return False
        try:
            write_textfile(path, self.exposition(), 0o640 if self.settings.file_group_readable else 0o600)
            return True
        except OSError as e:
            log.warning("metrics file %s not written: %s", path, e.strerror or e)
            return False

    def _file_loop(self) -> None:
        while True:
            self.write_file()
            if self._stop.wait(self.settings.file_interval_s):
                return
