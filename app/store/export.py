"""Export history and alerts to CSV or JSON for a range and a set of cameras (a repository-style function:
run it through ``Store.query(export_history, ...)`` so the GUI never waits).

CSV: one file per table next to the chosen name (``<stem>_events.csv``, ``_samples.csv``, ``_alerts.csv``,
``_availability.csv``). JSON: one document ``{"range": ..., "cameras": ..., "events": [...], ...}``.
Times are ISO 8601 UTC plus the UNIX seconds. Nothing exported carries a URL, so no credential can leak;
free text (reasons, summaries) is scrubbed anyway.

CSV cells are written for spreadsheets: a text cell starting with ``=``, ``+``, ``-``, ``@``, TAB, CR or NUL
(a camera named ``=HYPERLINK(...)``) gets a leading ``'`` so it is shown as text, never run as a formula
(OWASP "CSV Injection", ASVS 1.2.10; ``app.textsafe.csv_cell``). Numbers stay numbers. JSON is not changed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection

from app.secrets import scrub
from app.store import repository
from app.textsafe import csv_row


@dataclass(frozen=True, slots=True)
class ExportResult:
    files: tuple[str, ...]
    events: int
    samples: int
    alerts: int


def iso(t: float | None) -> str:
    """ISO 8601 UTC to the second ("2026-12-02T01:35:13Z"), '' for None."""
    return "" if t is None else datetime.fromtimestamp(t, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def atomic_write_text(path: Path, text: str) -> None:
    """Write *text* to *path* atomically (temp file in the same folder, fsync, rename): a crash leaves the
    old file or the new one, never half of it. The file is readable by this user only (mkstemp's 0600)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def collect(conn: Connection, start: float, end: float, camera_ids: Iterable[str] | None = None,
            now: float | None = None) -> dict[str, list[dict]]:  # fmt: skip
    ids = list(camera_ids) if camera_ids is not None else repository.known_camera_ids(conn)
    events = [{"camera_id": e.camera_id, "time": iso(e.at), "unix": e.at, "old_state": e.old_state,
               "new_state": e.new_state, "reason": scrub(e.reason)}
              for e in repository.state_events(conn, ids, start, end, limit=10_000_000)]  # fmt: skip
    samples = []
    for cid in ids:
        series = repository.samples(conn, cid, start, end)
        samples += [
            {
                "camera_id": cid,
                "resolution": series.resolution,
                "time": iso(p.at),
                "unix": p.at,
                "fps": round(p.fps, 3),
                "bitrate_bps": round(p.bitrate_bps),
                "latency_ms": round(p.latency_ms, 1),
                "live_fraction": round(p.live_fraction, 4),
                "samples": p.samples,
            }
            for p in series.points
        ]
    alerts = []
    for a in repository.alerts(conn, start, end, ids):
        d = asdict(a)
        d["summary"] = scrub(a.summary)
        d["labels"] = json.dumps(dict(a.labels))
        d["started"], d["resolved"] = iso(a.started_at), iso(a.resolved_at)
        alerts.append(d)
    avail = []
    for a in repository.downtime_summary(conn, start, end, ids, now):
        avail.append({"camera_id": a.camera_id, "up_s": round(a.up_s, 1), "down_s": round(a.down_s, 1),
                      "unknown_s": round(a.unknown_s, 1), "outages": a.outages,
                      "availability_percent": "" if a.ratio is None else round(100 * a.ratio, 3)})  # fmt: skip
    return {"events": events, "samples": samples, "alerts": alerts, "availability": avail}


def export_history(conn: Connection, path: str | os.PathLike, start: float, end: float,
                   camera_ids: Iterable[str] | None = None, fmt: str | None = None,
                   now: float | None = None) -> ExportResult:  # fmt: skip
    """Write the export; *fmt* "csv" or "json" (default: from the file suffix). Returns what was written."""
    path = Path(path)
    fmt = (fmt or path.suffix.lstrip(".") or "json").lower()
    if fmt not in ("csv", "json"):
        raise ValueError(f"export format must be csv or json, not {fmt!r}")
    data = collect(conn, start, end, camera_ids, now)
    files: list[str] = []
    if fmt == "json":
        doc = {"range": {"start": iso(start), "end": iso(end), "start_unix": start, "end_unix": end}, **data}
        atomic_write_text(path, json.dumps(doc, indent=1))
        files.append(str(path))
    else:
        stem = path.with_suffix("")
        for name, rows in data.items():
            out = Path(f"{stem}_{name}.csv")
            buf = io.StringIO()
            if rows:
                w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
                w.writeheader()
                w.writerows(csv_row(r) for r in rows)  # text cells that would run as formulas get a "'"
            atomic_write_text(out, buf.getvalue())
            files.append(str(out))
    return ExportResult(tuple(files), len(data["events"]), len(data["samples"]), len(data["alerts"]))
