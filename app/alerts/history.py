"""Alarm history: every alarm of a time range as rows an operator reads, filtered and exported as CSV.

Pure (the rows come from ``repository.alerts`` on a store reader thread; nothing here waits on a
database). One row per alarm with its whole ISA-18.2 story: raised, acknowledged (by whom, when, note),
cleared, closed (by whom, why), shelved. Times in the CSV are ISO 8601 UTC, so a
spreadsheet and a script read the same file (the raising time also as UNIX seconds); free text is scrubbed
of credentials, and every text cell that a spreadsheet would run as a formula (camera names, groups,
summaries, notes and operator names come from devices and people) is written as text
(:func:`app.textsafe.csv_row`, as in ``app.store.export``).
"""

from __future__ import annotations

import csv
import io
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from app.alerts.evaluator import AlertStatus
from app.alerts.rules import Severity
from app.secrets import scrub
from app.store.export import atomic_write_text, iso
from app.store.records import AlertRecord
from app.textsafe import csv_row

CSV_COLUMNS = ("raised", "raised_unix", "severity", "camera_id", "camera", "group", "alarm", "summary", "state",
               "acknowledged", "acknowledged_by", "ack_note", "cleared", "closed", "closed_by", "close_note",
               "shelved_by", "shelve_note")  # fmt: skip


@dataclass(frozen=True, slots=True)
class AlarmFilter:
    """What the history window shows; an empty set means "all"."""

    camera_ids: frozenset[str] = frozenset()
    groups: frozenset[str] = frozenset()
    severities: frozenset[str] = frozenset()

    def admits(self, r: AlertRecord) -> bool:
        group = dict(r.labels).get("group", "")
        return ((not self.camera_ids or r.camera_id in self.camera_ids)
                and (not self.groups or group in self.groups)
                and (not self.severities or r.severity in self.severities))  # fmt: skip


def filter_alarms(records: Iterable[AlertRecord], flt: AlarmFilter) -> list[AlertRecord]:
    """Newest first, most severe first within the same second."""
    rows = [r for r in records if flt.admits(r)]
    return sorted(rows, key=lambda r: (-r.started_at, _rank(r.severity)))


def state_words(r: AlertRecord) -> str:
    try:
        return AlertStatus(r.status).words
    except ValueError:
        return r.status


def _rank(severity: str) -> int:
    try:
        return Severity(severity).rank
    except ValueError:
        return 99


def alarm_row(r: AlertRecord) -> dict[str, str | float]:
    labels = dict(r.labels)
    return {
        "raised": iso(r.started_at),
        "raised_unix": r.started_at,
        "severity": r.severity,
        "camera_id": r.camera_id,
        "camera": labels.get("name", r.camera_id),
        "group": labels.get("group", ""),
        "alarm": r.alertname,
        "summary": scrub(r.summary),
        "state": state_words(r),
        "acknowledged": iso(r.acknowledged_at),
        "acknowledged_by": r.acknowledged_by,
        "ack_note": scrub(r.ack_note),
        "cleared": iso(r.cleared_at),
        "closed": iso(r.resolved_at),
        "closed_by": r.resolved_by,
        "close_note": scrub(r.resolve_note),
        "shelved_by": r.shelved_by,
        "shelve_note": scrub(r.shelve_note),
    }


def alarms_csv(records: Iterable[AlertRecord]) -> str:
    out = io.StringIO()
    # RFC 4180 line ends (csv's default, as in app.store.export): with "\n" alone a lone CR in a note was
    # written unquoted and split the alarm's row in two for every reader
    w = csv.DictWriter(out, fieldnames=CSV_COLUMNS)
    w.writeheader()
    for r in records:
        w.writerow(csv_row(alarm_row(r)))
    return out.getvalue()


def write_alarms_csv(path: str | os.PathLike, records: Iterable[AlertRecord]) -> int:
    """Write atomically (temp file, rename), readable by this user only; returns the number of alarms."""
    rows = list(records)
    atomic_write_text(Path(path), alarms_csv(rows))
    return len(rows)
