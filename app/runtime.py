"""The core of a running Vigil, with no Qt: config -> supervisor -> (store, probes, alerts, metrics, recorder).

``Runtime`` is built by the composition root (``main.py``) for both the desktop window and
``--headless``. Services start in order and stop in reverse, all from one place; nothing reaches for a
global. Each service is a plain object with ``start()`` and ``stop()``.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Protocol

from app.config import AppConfig
from app.paths import Paths
from app.pipeline.supervisor import Supervisor

log = logging.getLogger(__name__)


class Service(Protocol):
    def start(self) -> None: ...

    def stop(self) -> None: ...


@dataclass
class Runtime:
    config: AppConfig
    paths: Paths
    demo: bool = False
    supervisor: Supervisor = field(init=False)
    services: list[tuple[str, Service]] = field(default_factory=list)
    stop_event: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.supervisor = Supervisor(self.config)

    def add_service(self, name: str, service: Service) -> None:
        self.services.append((name, service))

    def start(self) -> None:
        log.info("starting Vigil core: %d cameras%s", len(self.config.cameras), " (demo)" if self.demo else "")
        for name, svc in self.services:
            log.debug("starting %s", name)
            svc.start()
        self.supervisor.start()

    def stop(self) -> None:
        self.stop_event.set()
        self.supervisor.stop()
        for name, svc in reversed(self.services):
            try:
                svc.stop()
            except Exception:
                log.exception("stopping %s failed", name)
        log.info("Vigil core stopped")
