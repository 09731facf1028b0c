"""Notification sinks (no Qt): a log line, and webhooks with an Alertmanager-compatible body.

The webhook body is what Prometheus Alertmanager accepts on ``POST /api/v2/alerts``: a JSON list of
``{"labels": {...}, "annotations": {...}, "startsAt": ..., "endsAt": ..., "generatorURL": ...}``. A
resolved alert carries ``endsAt``; an open one has none. Labels: ``alertname``, ``severity`` (lower
case), ``camera``, ``group``, ``instance``; annotations: ``summary``, ``status``, acknowledgement.

Each webhook has its own thread and a bounded buffer. Every attempt sends *all* buffered alerts in one
POST (latest state per alert id), so a slow or dead receiver delays nothing else and never grows memory:
on failure the buffer is retried with exponential backoff (1 s .. 60 s); after ``max_attempts`` failures
the batch is dropped with an error line; when the buffer is full the oldest alert state is dropped.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
from collections import OrderedDict
from datetime import UTC, datetime

from app.alerts.evaluator import Alert, AlertEvent, AlertStatus
from app.secrets import mask_url, scrub

log = logging.getLogger(__name__)
alert_log = logging.getLogger("vigil.alerts")


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def alertmanager_alert(alert: Alert, instance: str = "", generator_url: str = "") -> dict:
    labels = {"alertname": alert.alertname, "severity": alert.severity.value.lower(), "source": "vigil"}
    if alert.camera_id:
        labels["camera"] = alert.camera_id
    else:
        labels["target"] = alert.subject
    if alert.group:
        labels["group"] = alert.group
    if instance:
        labels["instance"] = instance
    annotations = {"summary": scrub(alert.summary), "status": alert.status.value, "alert_id": alert.id}
    if alert.name:
        annotations["camera_name"] = alert.name
    if alert.acknowledged_at is not None:
        annotations["acknowledged_by"] = alert.acknowledged_by
        annotations["acknowledged_at"] = iso(alert.acknowledged_at)
        if alert.ack_note:
            annotations["ack_note"] = alert.ack_note
    if alert.resolved_at is not None:
        annotations["resolved_by"] = alert.resolved_by
    body = {"labels": labels, "annotations": annotations, "startsAt": iso(alert.started_at),
            "generatorURL": generator_url}  # fmt: skip
    # Alertmanager's alert is the condition: it ends when the condition cleared, whether or not an operator
    # has acknowledged it yet (the acknowledgement is Vigil's own state, sent as annotations)
    if alert.status in (AlertStatus.CLEARED, AlertStatus.RESOLVED):
        ended = alert.cleared_at if alert.cleared_at is not None else alert.resolved_at
        if ended is not None:
            body["endsAt"] = iso(ended)
    if alert.shelved_until is not None:
        annotations["shelved_by"] = alert.shelved_by
        annotations["shelved_until"] = iso(alert.shelved_until)
    return body


class LogSink:
    """One line per lifecycle event in the application log (logger ``vigil.alerts``)."""

    def notify(self, event: AlertEvent) -> None:
        a = event.alert
        extra = ""
        if event.kind == "acknowledged":
            extra = f" by {a.acknowledged_by}" + (f": {a.ack_note}" if a.ack_note else "")
        elif event.kind == "resolved":
            extra = f" ({a.resolved_by}" + (f": {a.resolve_note}" if a.resolve_note else "") + ")"
        elif event.kind == "cleared":
            extra = " (condition cleared; still unacknowledged)"
        elif event.kind == "shelved":
            extra = f" by {a.shelved_by} until {iso(a.shelved_until)}" + (f": {a.shelve_note}" if a.shelve_note else "")
        level = logging.WARNING if event.kind == "fired" else logging.INFO
        alert_log.log(level, "ALERT %s %s [%s] %s%s", event.kind.upper(), a.alertname, a.severity.value,
                      scrub(a.summary), extra)  # fmt: skip

    def start(self) -> None:
        pass

    def stop(self) -> None:
        pass


class WebhookSink:
    def __init__(self, url: str, timeout_s: float = 5.0, max_attempts: int = 8, buffer_max: int = 1000,
                 instance: str | None = None, backoff_cap_s: float = 60.0) -> None:  # fmt: skip
        self.url = url
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.buffer_max = buffer_max
        self.backoff_cap_s = backoff_cap_s
        self.instance = instance if instance is not None else f"vigil@{socket.gethostname()}"
        self._buf: OrderedDict[str, Alert] = OrderedDict()
        self._cond = threading.Condition()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"alerts:webhook:{_short(url)}", daemon=True)
        self.sent_total = 0
        self.failed_total = 0
        self.dropped_total = 0
        self.last_error = ""

    def notify(self, event: AlertEvent) -> None:
        """Never blocks: buffer the alert's latest state for the sender thread."""
        with self._cond:
            self._buf.pop(event.alert.id, None)
            self._buf[event.alert.id] = event.alert
            while len(self._buf) > self.buffer_max:
                self._buf.popitem(last=False)
                self.dropped_total += 1
            self._cond.notify()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        with self._cond:
            self._stop = True
            self._cond.notify()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def pending(self) -> int:
        with self._cond:
            return len(self._buf)

    def _run(self) -> None:
        import requests

        session = requests.Session()
        attempts, backoff = 0, 1.0
        while True:
            with self._cond:
                while not self._buf and not self._stop:
                    self._cond.wait()
                if self._stop and (not self._buf or attempts > 0):
                    break
                batch = list(self._buf.values())
            body = [alertmanager_alert(a, self.instance) for a in batch]
            try:
                r = session.post(self.url, json=body, timeout=self.timeout_s)
                if r.status_code >= 300:
                    raise OSError(f"HTTP {r.status_code} {r.reason}")
            except Exception as e:  # network errors, timeouts, bad status: retry later
                attempts += 1
                self.failed_total += 1
                self.last_error = scrub(str(e))[:300]
                if attempts >= self.max_attempts:
                    log.error("webhook %s: giving up on %d alert notifications after %d attempts: %s",
                              mask_url(self.url), len(batch), attempts, self.last_error)  # fmt: skip
                    self._remove(batch)
                    attempts, backoff = 0, 1.0
                    continue
                log.warning("webhook %s failed (%s): retry %d/%d in %.0f s", mask_url(self.url), self.last_error,
                            attempts, self.max_attempts, backoff)  # fmt: skip
                with self._cond:
                    if self._stop:  # stopping: one last attempt only
                        break
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, self.backoff_cap_s)
                continue
            self.sent_total += len(batch)
            self.last_error = ""
            attempts, backoff = 0, 1.0
            self._remove(batch)
        session.close()

    def _remove(self, batch: list[Alert]) -> None:
        with self._cond:
            for a in batch:
                if self._buf.get(a.id) is a:  # a newer state of the same alert stays queued
                    del self._buf[a.id]


def _short(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or "url"
    except ValueError:
        return "url"


def dumps(alerts: list[Alert]) -> str:
    return json.dumps([alertmanager_alert(a) for a in alerts], indent=2)
