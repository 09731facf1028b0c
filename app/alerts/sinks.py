"""Notification sinks (no Qt): a log line, and webhooks with an Alertmanager-compatible body.

The webhook body is what Prometheus Alertmanager accepts on ``POST /api/v2/alerts``: a JSON list of
``{"labels": {...}, "annotations": {...}, "startsAt": ..., "endsAt": ..., "generatorURL": ...}``. A
resolved alert carries ``endsAt``; an open one has none. Labels: ``alertname``, ``severity`` (lower
case), ``camera``, ``group``, ``instance``; annotations: ``summary``, ``status``, acknowledgement.

Each webhook has its own thread and a bounded buffer. Every attempt sends *all* buffered alerts in one
POST (latest state per alert id), so a slow or dead receiver delays nothing else and never grows memory:
on failure the buffer is retried with exponential backoff (1 s .. 60 s); after ``max_attempts`` failures
the batch is dropped with an error line; when the buffer is full the oldest alert state is dropped. Only
a 2xx is a delivery and redirects are not followed; firing alerts are re-sent every
``alerts.webhook_resend_s`` so Alertmanager never expires one that still holds; what is undelivered at
stop is kept in a backlog file and sent after the next start (:class:`WebhookSink`).

Bounds. One POST, connect to last byte, takes at most ``alerts.webhook_timeout_s`` *in total*: the
probes' socket watchdog (:func:`probes.http.request_deadline`) shuts the socket down when it passes, so
a receiver trickling its answer a byte a second cannot hold the thread (a per-read timeout alone is reset
by every byte). Stopping is one shared deadline for all webhooks together (:func:`stop_sinks`,
:data:`STOP_S`): they are told at once, a last attempt still in flight is cut
:data:`CUT_GRACE_S` before the deadline, and each backlog is written whatever happened to its POST.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import socket
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path

from app.alerts.evaluator import Alert, AlertEvent, AlertStatus
from app.alerts.rules import Severity
from app.fileio import write_private_atomic
from app.secrets import mask_url, scrub
from app.textsafe import one_line
from probes.http import error_words, request_deadline

log = logging.getLogger(__name__)
alert_log = logging.getLogger("vigil.alerts")

STOP_S = 3.0  # all webhooks together at Vigil's stop (SIGTERM to exit must stay under 5 s)
CUT_GRACE_S = 0.5  # left after the POSTs still in flight are cut: their threads write the backlog and end
STOPPED = "cut off: Vigil is stopping"


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
    annotations = {"summary": one_line(scrub(alert.summary)), "status": alert.status.value, "alert_id": alert.id}
    # operator- and device-given words: one bounded line each (app.textsafe), as the summary already is
    if alert.name:
        annotations["camera_name"] = one_line(alert.name)
    if alert.acknowledged_at is not None:
        annotations["acknowledged_by"] = one_line(alert.acknowledged_by)
        annotations["acknowledged_at"] = iso(alert.acknowledged_at)
        if alert.ack_note:
            annotations["ack_note"] = one_line(scrub(alert.ack_note))
    if alert.resolved_at is not None:
        annotations["resolved_by"] = one_line(alert.resolved_by)
    body = {"labels": labels, "annotations": annotations, "startsAt": iso(alert.started_at),
            "generatorURL": generator_url}  # fmt: skip
    # Alertmanager's alert is the condition: it ends when the condition cleared, whether or not an operator
    # has acknowledged it yet (the acknowledgement is Vigil's own state, sent as annotations)
    if alert.status in (AlertStatus.CLEARED, AlertStatus.RESOLVED):
        ended = alert.cleared_at if alert.cleared_at is not None else alert.resolved_at
        if ended is not None:
            body["endsAt"] = iso(ended)
    if alert.shelved_until is not None:
        annotations["shelved_by"] = one_line(alert.shelved_by)
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


class DeliveryError(OSError):
    """A receiver did not take a batch, in words (refused, timed out, redirected, non-2xx)."""


class WebhookSink:
    """One Alertmanager-compatible receiver: its own thread, a bounded buffer, re-sends, a backlog file.

    - **Only a 2xx answer is a delivery.** Redirects are not followed (``allow_redirects=False``): a 307
      would send the alert bodies to another host:port, a 302/303 turns the POST into a GET that any page
      answers 200. A 3xx is a failure in words ("the receiver answered 307 redirect to ...; redirects are
      not followed") and is retried with backoff like any other non-2xx.
    - **Re-send.** Alertmanager resolves an alert that is not posted again within its ``resolve_timeout``
      (5 min by default): a client "is expected to continuously re-send alerts as long as they are still
      active" (prometheus.io/docs/alerting/latest/clients/). Every alert whose condition holds (active or
      acknowledged) is posted again *resend_s* after its last delivery (``alerts.webhook_resend_s``, 60 s),
      with the same labels and ``startsAt`` and no ``endsAt``. ``endsAt`` goes out only in the state that
      ended it: the condition cleared while Vigil ran, or an operator closed the alarm. Vigil stopping sends
      nothing (the engine freezes first: :meth:`AlertEngine.freeze`).
    - **Bounded.** One POST takes at most *timeout_s* in total, enforced while blocked; at stop a POST
      still in flight is cut (:meth:`cut`) and its alerts stay in the backlog (:func:`stop_sinks`).
    - **Backlog.** States not yet delivered are written to *backlog_path* (JSON, atomically, 0600) after a
      failed attempt and at stop, and queued again at the next start; the file goes once all is delivered.
    """

    def __init__(self, url: str, timeout_s: float = 5.0, max_attempts: int = 8, buffer_max: int = 1000,
                 instance: str | None = None, backoff_cap_s: float = 60.0, resend_s: float = 60.0,
                 backlog_path: Path | None = None, clock: Callable[[], float] = time.monotonic) -> None:  # fmt: skip
        self.url = url
        self.timeout_s = timeout_s
        self.max_attempts = max_attempts
        self.buffer_max = buffer_max
        self.backoff_cap_s = backoff_cap_s
        self.resend_s = resend_s
        self.backlog_path = Path(backlog_path) if backlog_path is not None else None
        self.instance = instance if instance is not None else f"vigil@{socket.gethostname()}"
        self._clock = clock
        self._buf: OrderedDict[str, Alert] = OrderedDict()  # states to deliver, latest per alert id
        self._firing: dict[str, Alert] = {}  # condition holds: re-sent every resend_s
        self._sent_at: dict[str, float] = {}  # alert id -> when (clock) its firing state was last delivered
        self._cond = threading.Condition()
        self._file_lock = threading.Lock()
        self._stop = False
        self._flight_lock = threading.Lock()
        self._flight = None  # the deadline of the POST in flight (probes.http.request_deadline)
        self._cut = False  # stopping and out of time: no POST starts, the one in flight is cut
        self._thread = threading.Thread(target=self._run, name=f"alerts:webhook:{_short(url)}", daemon=True)
        self.sent_total = 0
        self.resent_total = 0
        self.failed_total = 0
        self.dropped_total = 0
        self.last_error = ""

    # ------------------------------------------------------------------ inputs (any thread, never block)
    def notify(self, event: AlertEvent) -> None:
        """Never blocks: buffer the alert's latest state for the sender thread."""
        with self._cond:
            self._track(event.alert)
            self._queue(event.alert)
            self._cond.notify()

    def adopt(self, alerts: Iterable[Alert]) -> None:
        """Open alerts carried over from the previous run: those still firing are posted now (Alertmanager
        may have expired them while Vigil was down) and then re-sent like any other."""
        with self._cond:
            for a in alerts:
                if a.condition_active and a.id not in self._firing:
                    self._track(a)
                    self._queue(a)
            self._cond.notify()

    def set_resend_interval(self, seconds: float) -> None:
        with self._cond:
            self.resend_s = seconds
            self._cond.notify()

    def _track(self, a: Alert) -> None:
        old = self._firing.get(a.id)
        if old is not None and old.updated_at > a.updated_at:
            return
        if a.condition_active:
            self._firing[a.id] = a
        else:
            self._firing.pop(a.id, None)
            self._sent_at.pop(a.id, None)

    def _queue(self, a: Alert) -> None:
        old = self._buf.get(a.id)
        if old is not None and old.updated_at > a.updated_at:
            return  # a newer state of the same alert is already waiting
        self._buf.pop(a.id, None)
        self._buf[a.id] = a
        while len(self._buf) > self.buffer_max:
            self._buf.popitem(last=False)
            self.dropped_total += 1

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        for a in self._load_backlog():
            with self._cond:
                self._queue(a)
        self._thread.start()

    def stop(self, timeout: float = STOP_S) -> None:
        """One last attempt for what is buffered, all within *timeout*; the rest goes to the backlog.
        Several sinks: :func:`stop_sinks` stops them together under one deadline."""
        stop_sinks([self], timeout)

    def begin_stop(self) -> None:
        """Tell the sender thread to stop (it makes one last attempt if something is buffered); never blocks."""
        with self._cond:
            self._stop = True
            self._cond.notify()

    def join(self, until: float) -> bool:
        """Wait for the sender thread until *until* (``time.monotonic()``); True once it has ended."""
        if self._thread.is_alive():
            self._thread.join(max(0.0, until - time.monotonic()))
        return not self._thread.is_alive()

    def cut(self) -> None:
        """Out of time at stop: cut the POST in flight (its socket is shut down: the blocked read returns at
        once) and start no other. What it carried stays buffered for the backlog."""
        with self._flight_lock:
            self._cut = True
            flight = self._flight
        if flight is not None:
            flight.abort()

    def end_stop(self) -> None:
        """Write the backlog (what is still undelivered), whether or not the thread has ended."""
        if self._thread.is_alive():
            log.warning("webhook %s: still busy at stop (a name lookup?); its %d undelivered alert notifications "
                        "are kept in the backlog", mask_url(self.url), self.pending())  # fmt: skip
        self._save_backlog()

    def pending(self) -> int:
        with self._cond:
            return len(self._buf)

    def firing(self) -> int:
        """Alerts re-sent every resend_s (their condition holds)."""
        with self._cond:
            return len(self._firing)

    # ------------------------------------------------------------------ sender thread
    def _due(self, now: float) -> float | None:
        """Queue the firing alerts due for a re-send; seconds until the next one is due (None: none firing).
        Caller holds the condition."""
        wait: float | None = None
        for aid, a in self._firing.items():
            due = self._sent_at.get(aid, now) + self.resend_s
            if aid not in self._sent_at and aid not in self._buf:
                due = now  # never delivered (given up): try again now and then every resend_s
            if due <= now:
                if aid not in self._buf:
                    self._buf[aid] = a
                    self.resent_total += 1
                self._sent_at[aid] = now  # counted from this attempt; a delivery sets it again
                due = now + self.resend_s
            wait = due - now if wait is None else min(wait, due - now)
        return wait

    def _run(self) -> None:
        import requests

        session = requests.Session()
        attempts, backoff = 0, 1.0
        while True:
            with self._cond:
                while not self._stop:
                    wait = self._due(self._clock())
                    if self._buf:
                        break
                    self._cond.wait(wait)
                if self._stop and (not self._buf or attempts > 0):
                    break
                batch = list(self._buf.values())
            body = [alertmanager_alert(a, self.instance) for a in batch]
            try:
                self._post(session, body)
            except Exception as e:  # network errors, timeouts, non-2xx, redirects: retry later
                attempts += 1
                self.failed_total += 1
                words = str(e) if isinstance(e, DeliveryError) else error_words(e, self.timeout_s)
                self.last_error = scrub(words)[:300]
                self._save_backlog()
                if attempts >= self.max_attempts and not self._stop:  # at stop: kept in the backlog
                    log.error("webhook %s: giving up on %d alert notifications after %d attempts: %s",
                              mask_url(self.url), len(batch), attempts, self.last_error)  # fmt: skip
                    self._remove(batch, delivered=False)
                    attempts, backoff = 0, 1.0
                    continue
                with self._cond:
                    if self._stop:  # stopping: one last attempt only
                        kept = "kept in the backlog" if self.backlog_path is not None else "lost (no backlog file)"
                        log.warning("webhook %s: %d alert notifications not delivered at stop (%s); %s",
                                    mask_url(self.url), len(batch), self.last_error, kept)  # fmt: skip
                        break
                log.warning("webhook %s failed (%s): retry %d/%d in %.0f s", mask_url(self.url), self.last_error,
                            attempts, self.max_attempts, backoff)  # fmt: skip
                with self._cond:
                    if self._stop:
                        break
                    self._cond.wait(backoff)
                backoff = min(backoff * 2, self.backoff_cap_s)
                continue
            self.sent_total += len(batch)
            self.last_error = ""
            attempts, backoff = 0, 1.0
            if self._remove(batch, delivered=True) == 0 and self.backlog_path is not None:
                self._save_backlog()  # all delivered: the backlog file goes
        session.close()

    def _post(self, session, body: list[dict]) -> None:
        """POST *body*; raises :class:`DeliveryError` (words) unless the receiver took it with a 2xx.

        The whole POST is bounded by ``timeout_s`` while blocked (the socket watchdog of
        :func:`probes.http.request_deadline`), each read by what is left of it; :meth:`cut` aborts it."""
        with request_deadline(session, self.url, self.timeout_s) as d:
            with self._flight_lock:
                if self._cut:
                    raise DeliveryError(STOPPED)
                self._flight = d
            try:
                try:
                    r = session.post(self.url, json=body, timeout=self.timeout_s, allow_redirects=False)
                except Exception:
                    if d.aborted or d.fired:
                        raise self._cut_short(d) from None
                    raise
                d.finish()  # the answer is complete: from here on the watchdog cannot touch it
                if d.aborted or d.fired:  # the EOF that "ended" the headers or body was the watchdog's
                    r.close()
                    raise self._cut_short(d)
            finally:
                with self._flight_lock:
                    self._flight = None
        try:
            if 300 <= r.status_code < 400:
                where = r.headers.get("Location", "")
                where = mask_url(where)[:200] if where else "nowhere (no Location header)"
                raise DeliveryError(f"the receiver answered {r.status_code} redirect to {where}; "
                                    "redirects are not followed")  # fmt: skip
            if not 200 <= r.status_code < 300:
                raise DeliveryError(f"the receiver answered HTTP {r.status_code} {r.reason}".rstrip())
        finally:
            r.close()

    def _cut_short(self, d) -> DeliveryError:
        if d.aborted:
            return DeliveryError(STOPPED)
        return DeliveryError(f"the receiver did not answer completely within {self.timeout_s:g} s "
                             "(alerts.webhook_timeout_s bounds the whole POST)")  # fmt: skip

    def _remove(self, batch: list[Alert], delivered: bool) -> int:
        """Take *batch* out of the buffer (a newer state of an alert stays queued); returns what is left."""
        now = self._clock()
        with self._cond:
            for a in batch:
                if self._buf.get(a.id) is a:
                    del self._buf[a.id]
                if a.id in self._firing:
                    self._sent_at[a.id] = now  # given up or delivered: next re-send in resend_s
            return len(self._buf)

    # ------------------------------------------------------------------ backlog file
    def _save_backlog(self) -> None:
        """Write what is still undelivered (or remove the file when nothing is); errors are logged."""
        if self.backlog_path is None:
            return
        with self._file_lock:
            with self._cond:
                alerts = list(self._buf.values())
            try:
                if not alerts:
                    self.backlog_path.unlink(missing_ok=True)
                    return
                doc = {"version": BACKLOG_VERSION, "receiver": mask_url(self.url), "saved_at": iso(time.time()),
                       "alerts": [_alert_to_json(a) for a in alerts]}  # fmt: skip
                write_private_atomic(self.backlog_path, json.dumps(doc, indent=1))
            except OSError as e:
                log.error("webhook %s: cannot keep %d undelivered alert notifications in %s: %s",
                          mask_url(self.url), len(alerts), self.backlog_path, e.strerror or e)  # fmt: skip

    def _load_backlog(self) -> list[Alert]:
        p = self.backlog_path
        if p is None:
            return []
        try:
            doc = json.loads(p.read_text(encoding="utf-8"))
            alerts = [_alert_from_json(d) for d in doc["alerts"]][-self.buffer_max :]
        except FileNotFoundError:
            return []
        except (OSError, ValueError, KeyError, TypeError) as e:
            log.error("webhook %s: the backlog %s cannot be read (%s: %s); its notifications are lost",
                      mask_url(self.url), p, type(e).__name__, e)  # fmt: skip
            return []
        if alerts:
            log.info("webhook %s: %d undelivered alert notifications from the previous run queued again",
                     mask_url(self.url), len(alerts))  # fmt: skip
        return alerts


def stop_sinks(sinks: Iterable, timeout: float = STOP_S) -> None:
    """Stop *sinks* together within *timeout* (one deadline for all, not one each): see :func:`begin_stop`
    and :func:`finish_stop`, which a caller with more to wait for in between (the engine thread) calls."""
    sinks = list(sinks)
    deadline = time.monotonic() + timeout
    begin_stop(sinks)
    finish_stop(sinks, deadline)


def begin_stop(sinks: Iterable) -> None:
    """Tell every webhook to stop at once (their last attempts run in parallel); other sinks stop now."""
    for s in sinks:
        try:
            if isinstance(s, WebhookSink):
                s.begin_stop()
            else:
                s.stop()
        except Exception:
            log.exception("stopping alert sink failed")


def finish_stop(sinks: Iterable, deadline: float) -> None:
    """Wait for the webhooks until :data:`CUT_GRACE_S` before *deadline* (``time.monotonic()``), cut the POSTs
    still in flight, wait for their threads until *deadline*, then write every backlog. Returns by
    *deadline* plus the backlog writes, whatever the receivers do (the one wait no socket can cut short is
    a host name lookup: that thread is left behind, a daemon, and its alerts are in the backlog)."""
    hooks = [s for s in sinks if isinstance(s, WebhookSink)]
    for s in hooks:
        s.join(deadline - CUT_GRACE_S)
    for s in hooks:
        s.cut()
    for s in hooks:
        s.join(deadline)
    for s in hooks:
        try:
            s.end_stop()
        except Exception:
            log.exception("stopping alert sink failed")


BACKLOG_VERSION = 1


def backlog_file(data_dir: Path, url: str) -> Path:
    """The backlog of one receiver: named by a digest of its URL (a URL may carry a password)."""
    return Path(data_dir) / f"alert-backlog-{hashlib.sha256(url.encode()).hexdigest()[:12]}.json"


def _alert_to_json(a: Alert) -> dict:
    d = dataclasses.asdict(a)
    d["summary"] = scrub(a.summary)
    return d


def _alert_from_json(d: dict) -> Alert:
    d = dict(d)
    d["severity"] = Severity(d["severity"])
    d["status"] = AlertStatus(d["status"])
    return Alert(**d)


def _short(url: str) -> str:
    from urllib.parse import urlsplit

    try:
        return urlsplit(url).hostname or "url"
    except ValueError:
        return "url"


def dumps(alerts: list[Alert]) -> str:
    return json.dumps([alertmanager_alert(a) for a in alerts], indent=2)
