"""Neutralise text that came from a device or an operator before a person or a program reads it.

Three sinks, three rules:

* **Logs** (:func:`escape_controls`, applied by ``app.logs`` to every record): every character that can
  end a line, move the cursor, recolour a terminal or reorder what is shown is written as a visible
  escape (``\\n``, ``\\r``, ``\\t``, ``\\x1b``, ``\\x85``, ``\\u2028``, ``\\u202e``), so one record is one
  line and a device's ``last_error_msg`` cannot forge "ALERT RESOLVED ..." on a line of its own, nor
  paint the console with ANSI sequences (OWASP Logging Cheat Sheet, "Event collection": sanitise CR, LF
  and delimiters; CWE-117). Escaped: C0 (U+0000-001F), DEL, C1 (U+0080-009F), the Unicode line and
  paragraph separators U+2028/2029, the bidirectional controls (U+061C, U+200E/200F, U+202A-202E,
  U+2066-2069: "Trojan Source", CVE-2021-42574), and lone surrogates (bytes a decoder could not read,
  which would make the UTF-8 log file refuse the whole record). The backslash itself is kept as is:
  escaping it would double every Windows path, and a literal ``\\n`` typed by a device stays on its
  line either way.
* **Alert texts and tile overlays** (:func:`one_line`): the same escapes, and a length cap, so a
  summary, an Alertmanager annotation or a tile line is one bounded line whatever the device sent.
* **CSV cells** (:func:`csv_cell`): a text cell that a spreadsheet would run as a formula (first
  character ``=``, ``+``, ``-``, ``@``, TAB, CR or NUL) gets a leading ``'`` (OWASP "CSV Injection";
  ASVS 5.0 requirement 1.2.10). Numbers are written as numbers, so a genuine negative value in a
  numeric column stays numeric.

Pure functions, no imports beyond ``re``: used from the core, the log set-up and the widgets alike.
"""

from __future__ import annotations

import re

# C0, DEL, C1, line/paragraph separators, bidi controls, lone surrogates
_UNSAFE_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape(m: re.Match[str]) -> str:
    c = m[0]
    named = _NAMED.get(c)
    if named:
        return named
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"


def escape_controls(text: str) -> str:
    """*text* with every control, line-breaking, bidi or surrogate character written as a visible escape.

    The result never contains a character that :meth:`str.splitlines` splits on, so it is one line."""
    if not text or not _UNSAFE_RE.search(text):
        return text
    return _UNSAFE_RE.sub(_escape, text)


ELLIPSIS = "…"
ALERT_TEXT_MAX = 1000  # characters of one alert summary/annotation: a screenful, never a megabyte


def one_line(text: object, max_len: int = ALERT_TEXT_MAX) -> str:
    """*text* (``str()`` of anything) as one line for a display or an alert: controls escaped as in
    :func:`escape_controls`, cut to *max_len* characters (an ellipsis marks the cut)."""
    s = escape_controls(text if isinstance(text, str) else str(text))
    if max_len > 0 and len(s) > max_len:
        s = s[: max_len - 1] + ELLIPSIS
    return s


# OWASP CSV Injection: =, +, -, @, TAB (0x09), CR (0x0D); ASVS 1.2.10 adds NUL (0x00)
CSV_FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\x00")


def csv_cell(value: object) -> object:
    """A value for a CSV cell: text that starts like a formula is prefixed with ``'`` (the spreadsheet
    then shows it as text, quote hidden); numbers, booleans and None are returned unchanged (a genuine
    ``-3.5`` in a numeric column stays a number)."""
    if isinstance(value, str) and value.startswith(CSV_FORMULA_PREFIXES):
        return "'" + value
    return value


def csv_row(row: dict) -> dict:
    """:func:`csv_cell` applied to every value of a ``csv.DictWriter`` row."""
    return {k: csv_cell(v) for k, v in row.items()}
