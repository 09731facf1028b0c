"""HLS probe (what a packager monitor checks): ABR ladder from the master playlist, media-playlist health per rendition.

Pure part (no network, tested with literal playlists):

* :func:`parse_playlist` - text -> ``m3u8.M3U8`` or :class:`PlaylistError` in words. The ``m3u8``
  library does the parsing; we add the checks it does not do (header, size, segment count, types).
* :func:`parse_ladder` / :func:`check_ladder` - renditions (bandwidth, resolution, codecs) vs the
  camera's ``expected_renditions``, ``expected_codecs`` and ``expected_bandwidth_kbps``. Each rendition is
  named ``WxH@<kbps>k`` (``1280x720@3000k``), made unique, so two rungs of one resolution are two metric
  series, not one series written twice.
* :func:`analyse_media` - one poll of a media playlist against the previous poll's :class:`MediaState`:
  media-sequence continuity, discontinuities, staleness (unchanged for > 1.5 x target duration),
  EXTINF vs target duration within a tolerance.

Network part: :class:`HlsProbe` polls master + the media playlists of up to ``MAX_VARIANTS`` variants
and downloads the newest segment of up to ``MAX_SEGMENT_CHECKS`` renditions per cycle (they take turns;
time, HTTP status, bytes; one segment body in memory at a time), with timeouts and size caps; every
failure is a result with ``ok=False`` and words, never an exception. The parser raises nothing but
:class:`PlaylistError`, whose words name the tag and line (docs/probes.md "Parsers never raise"). A
master playlist that cannot be fetched or parsed carries the condition ``HLS_MASTER_ERROR`` (alert
``HlsMasterError``): without it the whole channel could be gone and nothing would alert.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

import m3u8
import requests

from app.secrets import mask_url
from probes.base import ProbeContext, ProbeResult
from probes.http import fetch, make_session

log = logging.getLogger(__name__)

KIND = "hls"
KIND_RENDITION = "hls_rendition"
# Hard limits (docs/probes.md "Parsers never raise; hard limits per probe"): what one cycle of one HLS
# probe may cost whatever the server sends.
MAX_PLAYLIST_BYTES = 2_000_000  # a master or media playlist (a live one is a few KiB)
MAX_SEGMENTS = 20_000  # segments listed in one media playlist
MAX_VARIANTS = 32  # variants of a master playlist whose media playlists are polled per cycle (highest first)
MAX_SEGMENT_CHECKS = 4  # newest-segment downloads per cycle; the renditions take turns beyond that
MAX_SEGMENT_BYTES = 50_000_000  # one segment download (6 s of 4K at 40 Mb/s is 30 MB)
MAX_SEGMENT_DEADLINE_S = 60.0  # one segment download, whatever the target duration claims
MAX_DECIMAL_DIGITS = 20  # RFC 8216 4.2: a decimal-integer is 0 .. 2^64-1, at most 20 digits
_PROBE_LINES = 2000  # tag lines tried one by one to name the line the parser refused
STALE_FACTOR = 1.5
MASTER_ERROR = "HLS_MASTER_ERROR"

# a tag line's value with a number longer than any RFC 8216 decimal-integer (quoted strings removed first;
# the digits of a hex IV or of a fraction are not preceded by a non-word character, so they do not match)
_TOO_LONG_NUMBER = re.compile(rf"(?<![\w.])\d{{{MAX_DECIMAL_DIGITS + 1},}}")
_QUOTED = re.compile(r'"[^"\n]*"')


class PlaylistError(ValueError):
    """The playlist cannot be used; the message says why, in words."""


def _tag(line: str) -> str:
    return line.split(":", 1)[0][:40]


def _too_long_number(text: str) -> str:
    """The words "a number too large in #EXT-X-... (line N)" for the first tag line with one; "" if none."""
    if not _TOO_LONG_NUMBER.search(text):  # fast path: no run of 21 digits anywhere
        return ""
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("#EXT") and _TOO_LONG_NUMBER.search(_QUOTED.sub('""', line)):
            return f"a number too large in {_tag(line)} (line {n}; at most {MAX_DECIMAL_DIGITS} digits, RFC 8216 4.2)"
    return ""


def _parser_words(e: Exception) -> str:
    """What the m3u8 parser's exception means, in words."""
    msg = str(e)
    quoted = re.search(r"'([^']*)'", msg)
    raw = quoted.group(1)[:40] if quoted else ""
    value = repr(raw) if quoted else ""
    if isinstance(e, OverflowError):
        return "a number too large"
    if isinstance(e, RecursionError):
        return "nested too deeply"
    if isinstance(e, ValueError):
        if "invalid literal" in msg or "could not convert" in msg:
            return f"not a number: {value}" if value else "not a number"
        if "isoformat" in msg or "out of range" in msg or "must be in" in msg:
            return f"not a valid date and time{': ' + value if value and 'isoformat' in msg else ''}"
        if "IPv6" in msg:
            return "a bad IPv6 address"
        if "Port" in msg:
            return "a port that is not a number"
        if "unpack" in msg:
            return "a value in the wrong form"
        return "an invalid value"
    attr = raw.upper().replace("_", "-")
    if isinstance(e, TypeError) and "unexpected keyword" in msg:
        return f"an attribute the tag does not have ({attr})" if attr else "an unknown attribute"
    if isinstance(e, (TypeError, KeyError)) and ("missing" in msg or isinstance(e, KeyError)):
        return f"a required attribute missing ({attr})" if attr else "a required attribute missing"
    if isinstance(e, IndexError):
        return "a value in the wrong form (too few parts)"
    if isinstance(e, UnicodeError):
        return "text that is not valid Unicode"
    return "a tag it cannot read"


def _culprit(text: str) -> str:
    """The first tag line the parser refuses on its own ("#EXT-X-KEY (line 7)"); "" if none is found."""
    lines = text.splitlines()
    tried = 0
    for n, line in enumerate(lines, 1):
        if not line.startswith("#EXT") or line.startswith("#EXTM3U"):
            continue
        tried += 1
        if tried > _PROBE_LINES:
            break
        after = lines[n] if n < len(lines) and not lines[n].startswith("#") else ""
        try:
            m3u8.loads(f"#EXTM3U\n{line}\n{after}\n")
        except Exception:  # the same parser as the whole: whatever it raises names this line
            return f"{_tag(line)} (line {n})"
    return ""


def parse_playlist(text: str | bytes, uri: str = "") -> m3u8.M3U8:
    """Text -> ``m3u8.M3U8``; raises :class:`PlaylistError` in words for anything unusable, never anything
    else ("malformed playlist: not a number: 'abc' in #EXT-X-TARGETDURATION (line 3)")."""
    if isinstance(text, bytes):
        if len(text) > MAX_PLAYLIST_BYTES:
            raise PlaylistError(f"playlist too large ({len(text):,} bytes, limit {MAX_PLAYLIST_BYTES:,})")
        if b"\x00" in text:
            raise PlaylistError("not an HLS playlist: binary data")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PlaylistError("not an HLS playlist: not UTF-8 text") from None
    if len(text) > MAX_PLAYLIST_BYTES:
        raise PlaylistError(f"playlist too large ({len(text):,} characters, limit {MAX_PLAYLIST_BYTES:,})")
    if "\x00" in text:
        raise PlaylistError("not an HLS playlist: binary data")
    if not text.strip():
        raise PlaylistError("empty playlist")
    if not text.lstrip("\ufeff").lstrip().startswith("#EXTM3U"):
        first = text.strip().splitlines()[0][:40]
        raise PlaylistError(f"not an HLS playlist: no #EXTM3U header (starts with {first!r})")
    if text.count("\n") > MAX_SEGMENTS * 4:
        raise PlaylistError(f"playlist has too many lines ({text.count(chr(10)):,}, limit {MAX_SEGMENTS * 4:,})")
    text = text.lstrip("\ufeff")
    too_long = _too_long_number(text)
    if too_long:
        raise PlaylistError(f"malformed playlist: {too_long}")
    try:
        pl = m3u8.loads(text, uri=uri or None)
    except Exception as e:  # ValueError/TypeError/KeyError/IndexError/OverflowError... on bad tags: in words
        where = _culprit(text)
        raise PlaylistError(f"malformed playlist: {_parser_words(e)}{' in ' + where if where else ''}") from None
    if (pl.is_variant and not pl.playlists) or (not pl.is_variant and not pl.segments and not pl.is_endlist):
        raise PlaylistError("playlist has no variants and no segments (truncated or empty)")
    if len(pl.segments) > MAX_SEGMENTS:
        raise PlaylistError(f"playlist has {len(pl.segments):,} segments (limit {MAX_SEGMENTS:,})")
    return pl


def absolute_uri(base: str, uri: str | None) -> tuple[str, str]:
    """(*uri* resolved against *base*, "") or ("", the problem in words): never raises."""
    if not uri:
        return "", "no URI"
    if not base:
        return uri, ""
    try:
        out = urljoin(base, uri)
        urlsplit(out).port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as e:
        return "", f"URI {uri[:80]!r} is not a valid URL: {_parser_words(e)}"
    return out, ""


@dataclass(frozen=True, slots=True)
class Rendition:
    uri: str  # absolute
    name: str  # unique label for metrics: "1280x720@3000k", or the playlist path
    bandwidth: int
    width: int = 0
    height: int = 0
    codecs: str = ""
    error: str = ""  # the variant cannot be polled (its URI is not a URL): a result with these words

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""


def parse_ladder(master: m3u8.M3U8) -> list[Rendition]:
    """Every variant of a master playlist, highest bandwidth first. Raises PlaylistError if it has none.

    A variant whose URI cannot be resolved is kept with ``error`` set (its rendition reports it); a
    BANDWIDTH or RESOLUTION of the wrong type counts as absent."""
    if not master.is_variant:
        raise PlaylistError("not a master playlist (no #EXT-X-STREAM-INF variants)")
    out = []
    for p in master.playlists:
        si = p.stream_info
        bw = si.bandwidth if isinstance(si.bandwidth, int) and not isinstance(si.bandwidth, bool) else 0
        bw = max(0, bw)
        res = si.resolution if isinstance(si.resolution, tuple) and len(si.resolution) == 2 else (0, 0)
        w, h = (int(x) if isinstance(x, int) and 0 < x < 1_000_000 else 0 for x in res)
        uri, error = absolute_uri(p.base_uri or "", p.uri)
        if error:
            error = f"variant {error}"
        if w and h:
            name = f"{w}x{h}@{round(bw / 1000)}k" if bw > 0 else f"{w}x{h}"
        else:
            path = p.uri or "?"
            name = path.rsplit("/", 2)[-2 if "/" in path else -1][:80] or "?"
        codecs = si.codecs if isinstance(si.codecs, str) else ""
        out.append(Rendition(uri=uri, name=name, bandwidth=bw, width=w, height=h, codecs=codecs, error=error))
    out.sort(key=lambda r: -r.bandwidth)
    return _unique_names(out)


def _unique_names(ladder: list[Rendition]) -> list[Rendition]:
    """Same resolution and bandwidth twice (or two paths ending alike): "#2", "#3" in ladder order."""
    from dataclasses import replace

    seen: dict[str, int] = {}
    out = []
    for r in ladder:
        n = seen.get(r.name, 0) + 1
        seen[r.name] = n
        out.append(r if n == 1 else replace(r, name=f"{r.name}#{n}"))
    return out


def _codec_matches(expected: str, declared: str) -> bool:
    e, d = expected.lower(), declared.lower()
    return d == e or d.startswith(e + ".")


def check_ladder(
    ladder: list[Rendition],
    expected: list[str],
    codecs: list[str] | None = None,
    bandwidth_kbps: dict[str, tuple[float, float]] | None = None,
) -> list[str]:
    """Problems in words: missing expected renditions, variants without BANDWIDTH, CODECS lacking an expected
    codec (every rendition must declare each one: "avc1" matches "avc1.64001f"), BANDWIDTH outside the
    channel's band for that resolution."""
    problems = []
    have = {r.resolution for r in ladder}
    for res in dict.fromkeys([*expected, *(bandwidth_kbps or {})]):
        if res not in have:
            problems.append(f"expected rendition {res} is missing from the ladder")
    for r in ladder:
        if r.bandwidth <= 0:
            problems.append(f"rendition {r.name} has no BANDWIDTH")
        if codecs:
            declared = [c.strip() for c in r.codecs.split(",") if c.strip()]
            if not declared:
                problems.append(f"rendition {r.name} declares no CODECS (expected {', '.join(codecs)})")
            else:
                lacking = [e for e in codecs if not any(_codec_matches(e, d) for d in declared)]
                if lacking:
                    problems.append(f"rendition {r.name} has CODECS {r.codecs!r}, expected {', '.join(lacking)} too")
        band = (bandwidth_kbps or {}).get(r.resolution)
        if band is not None and r.bandwidth > 0:
            lo, hi = band
            kbps = r.bandwidth / 1000
            if not lo <= kbps <= hi:
                problems.append(f"rendition {r.name} advertises {kbps:.0f} kb/s, expected {lo:g}-{hi:g} kb/s")
    return problems


@dataclass(frozen=True, slots=True)
class MediaState:
    """What the previous poll of one media playlist saw (the input of the next :func:`analyse_media`)."""

    media_sequence: int
    segment_count: int
    last_segment_uri: str
    discontinuity_sequence: int
    changed_at: float  # monotonic time the content was first seen changed
    discontinuities_total: int = 0
    sequence_errors_total: int = 0


@dataclass
class MediaFindings:
    problems: list[str] = field(default_factory=list)
    stale: bool = False
    target_duration: float = 0.0
    extinf_violations: int = 0
    new_discontinuities: int = 0
    sequence_error: bool = False
    newest_segment: str = ""
    newest_duration: float = 0.0
    endlist: bool = False


def analyse_media(
    prev: MediaState | None, pl: m3u8.M3U8, now: float, tolerance: float = 0.1
) -> tuple[MediaState, MediaFindings]:
    """Pure: compare one media-playlist poll with the previous one. *now* is monotonic seconds."""
    f = MediaFindings()
    if pl.is_variant:
        raise PlaylistError("expected a media playlist, got a master playlist")
    td = pl.target_duration
    if not isinstance(td, (int, float)) or isinstance(td, bool) or not math.isfinite(td) or td <= 0:
        raise PlaylistError("media playlist has no valid #EXT-X-TARGETDURATION")
    f.target_duration = float(td)
    f.endlist = bool(pl.is_endlist)
    seq = pl.media_sequence if isinstance(pl.media_sequence, int) else 0
    if seq < 0:
        raise PlaylistError(f"negative media sequence {seq}")
    dseq = pl.discontinuity_sequence if isinstance(pl.discontinuity_sequence, int) else 0
    segs = pl.segments
    if not segs:
        raise PlaylistError("media playlist has no segments")
    # EXTINF vs target duration: longer than target (+tolerance) breaks players; much shorter (except
    # the newest one, which may be cut early) means the packager's GOP does not match its segmenting.
    for i, s in enumerate(segs):
        d = s.duration if isinstance(s.duration, (int, float)) and math.isfinite(s.duration) else -1
        if d <= 0 or d > td * (1 + tolerance) or (i < len(segs) - 1 and d < td * (1 - tolerance)):
            f.extinf_violations += 1
    if f.extinf_violations:
        f.problems.append(f"{f.extinf_violations} segment(s) with EXTINF outside {td:g} s ±{tolerance:.0%}")
    in_playlist_disc = sum(1 for s in segs if s.discontinuity)
    last_uri = segs[-1].uri or ""
    newest, bad_uri = absolute_uri(segs[-1].base_uri or "", last_uri)
    f.newest_segment = newest
    if bad_uri:
        f.problems.append(f"newest segment: {bad_uri}")
    dur = segs[-1].duration
    f.newest_duration = float(dur) if isinstance(dur, (int, float)) and math.isfinite(dur) and dur > 0 else 0.0
    disc_total = prev.discontinuities_total if prev else 0
    seq_errors = prev.sequence_errors_total if prev else 0
    changed_at = now
    if prev is not None:
        unchanged = (seq, len(segs), last_uri) == (prev.media_sequence, prev.segment_count, prev.last_segment_uri)
        changed_at = prev.changed_at if unchanged else now
        if seq < prev.media_sequence and dseq <= prev.discontinuity_sequence:
            f.sequence_error = True
            f.problems.append(f"media sequence went backwards ({prev.media_sequence} -> {seq})")
        elif seq > prev.media_sequence + prev.segment_count and not unchanged:
            f.problems.append(f"media sequence jumped ({prev.media_sequence} -> {seq}): segments missed")
        if dseq > prev.discontinuity_sequence:
            f.new_discontinuities = dseq - prev.discontinuity_sequence
        elif not unchanged and segs[-1].discontinuity:
            f.new_discontinuities = 1
        if f.sequence_error:
            seq_errors += 1
        disc_total += f.new_discontinuities
        if not f.endlist and now - changed_at > STALE_FACTOR * td:
            f.stale = True
            f.problems.append(f"playlist not updated for {now - changed_at:.0f} s (target duration {td:g} s)")
    else:
        disc_total += in_playlist_disc
    state = MediaState(seq, len(segs), last_uri, dseq, changed_at, disc_total, seq_errors)
    return state, f


# ------------------------------------------------------------------------------- network probe


class HlsProbe:
    """Polls one camera's HLS master playlist and all its renditions."""

    kind = KIND

    def __init__(
        self,
        camera_id: str,
        url: str,
        *,
        expected_renditions: list[str] | None = None,
        expected_codecs: list[str] | None = None,
        expected_bandwidth_kbps: dict[str, tuple[float, float]] | None = None,
        interval_s: float = 10.0,
        timeout_s: float = 10.0,
        tolerance: float = 0.1,
        download_segments: bool = True,
        max_segment_bytes: int = MAX_SEGMENT_BYTES,
        parallelism: int = 4,
        max_variants: int = MAX_VARIANTS,
        segment_checks: int = MAX_SEGMENT_CHECKS,
    ) -> None:
        self.camera_id = camera_id
        self.url = url
        self.masked_url = mask_url(url)
        self.name = f"hls:{camera_id}"
        self.expected = list(expected_renditions or [])
        self.expected_codecs = list(expected_codecs or [])
        self.expected_bandwidth = dict(expected_bandwidth_kbps or {})
        self.interval_s = interval_s
        self.timeout_s = timeout_s
        self.tolerance = tolerance
        self.download_segments = download_segments
        self.max_segment_bytes = max_segment_bytes
        self.parallelism = parallelism
        self.max_variants = max(1, max_variants)
        self.segment_checks = max(1, segment_checks)
        self._session = make_session(parallelism + 1)
        self._media: dict[str, MediaState] = {}
        # segment checks take turns beyond segment_checks renditions: the next one to check, and each
        # rendition's last measurement (it stands until its next turn)
        self._segment_turn = 0
        self._segment_lock = threading.Lock()
        self._segment_seen: dict[str, tuple[dict[str, float], str]] = {}
        self.validation_errors_total = 0

    def close(self) -> None:
        self._session.close()

    def stalled_results(self, error: str, latency_s: float) -> list[ProbeResult]:
        """What the scheduler stores for a cycle past its run limit: a master error, so the camera alerts."""
        return self._fail(time.perf_counter() - latency_s, "UNREACHABLE", error)

    def _fail(self, t0: float, state: str, error: str, **metrics: float) -> list[ProbeResult]:
        self.validation_errors_total += 1
        return [
            ProbeResult(
                KIND,
                self.camera_id,
                ok=False,
                state=state,
                error=error,
                camera_id=self.camera_id,
                latency_s=time.perf_counter() - t0,
                conditions=(MASTER_ERROR,),  # the channel may be gone: HlsMasterError
                labels={"url": self.masked_url},
                metrics={
                    "playlist_valid": 0.0,
                    "abr_rung_count": 0.0,
                    "validation_errors_total": self.validation_errors_total,
                    **metrics,
                },
            )
        ]

    def run(self, ctx: ProbeContext | None = None) -> list[ProbeResult]:
        t0 = time.perf_counter()
        r = fetch(self._session, self.url, timeout=self.timeout_s, max_bytes=MAX_PLAYLIST_BYTES)
        if r.error:
            return self._fail(
                t0,
                "UNREACHABLE" if r.status == 0 else "HTTP_ERROR",
                f"master playlist: {r.error}",
                http_status=r.status,
            )
        try:
            pl = parse_playlist(r.body, self.url)
            # a single media playlist is a one-rung "ladder"
            ladder = parse_ladder(pl) if pl.is_variant else [Rendition(uri=self.url, name="single", bandwidth=0)]
        except PlaylistError as e:
            return self._fail(t0, "INVALID", f"master playlist: {e}", http_status=r.status)
        problems = (
            check_ladder(ladder, self.expected, self.expected_codecs, self.expected_bandwidth) if pl.is_variant else []
        )
        notes = []
        polled = ladder[: self.max_variants]
        if len(ladder) > self.max_variants:
            notes.append(
                f"master playlist lists {len(ladder)} variants; only the first {self.max_variants} "
                f"(highest bandwidth) are checked (limit: {self.max_variants} variants per cycle)"
            )
        segment_turns = self._segment_turns(polled)
        work = [(x, x.uri in segment_turns) for x in polled]
        if ctx is not None:
            rung_results = ctx.map(self._probe_rendition_job, work, self.parallelism)
        else:
            rung_results = [self._probe_rendition_job(x) for x in work]
        bad = [x for x in rung_results if not x.ok or x.conditions]
        problems += [f"{x.labels['rendition']}: {x.error}" for x in bad if x.error]
        if problems:
            self.validation_errors_total += 1
        valid = not problems
        master = ProbeResult(
            KIND,
            self.camera_id,
            ok=True,
            state="OK" if valid else "INVALID",
            error="; ".join([*problems, *notes])[:500],
            camera_id=self.camera_id,
            latency_s=time.perf_counter() - t0,
            labels={"url": self.masked_url, "ladder": ",".join(x.name for x in ladder)[:1000]},
            metrics={
                "playlist_valid": 1.0 if valid else 0.0,
                "abr_rung_count": float(len(ladder)),
                "expected_rung_count": float(len(self.expected)),
                "variants_unchecked": float(len(ladder) - len(polled)),
                "validation_errors_total": self.validation_errors_total,
                "master_download_s": r.elapsed_s,
                "http_status": float(r.status),
            },
            conditions=("HLS_INVALID",) if not valid else (),
        )
        return [master, *rung_results]

    def _segment_turns(self, renditions: list[Rendition]) -> set[str]:
        """URIs of the renditions whose newest segment is downloaded this cycle: all of them up to
        ``segment_checks``, else the next ``segment_checks`` in turn (each is checked every
        ceil(n / segment_checks) cycles)."""
        if not self.download_segments:
            return set()
        uris = [r.uri for r in renditions if not r.error]
        if len(uris) <= self.segment_checks:
            return set(uris)
        start = self._segment_turn % len(uris)
        self._segment_turn = start + self.segment_checks
        return {uris[(start + k) % len(uris)] for k in range(self.segment_checks)}

    def _probe_rendition_job(self, job: tuple[Rendition, bool]) -> ProbeResult:
        return self._probe_rendition(*job)

    def _probe_rendition(self, rend: Rendition, check_segment: bool = True) -> ProbeResult:
        t0 = time.perf_counter()
        labels = {
            "rendition": rend.name,
            "resolution": rend.resolution,
            "codecs": rend.codecs,
            "bandwidth": str(rend.bandwidth),
        }
        base = {"bandwidth_bps": float(rend.bandwidth)}
        target = f"{self.camera_id}/{rend.name}"
        if rend.error:
            return ProbeResult(
                KIND_RENDITION, target, ok=False, state="INVALID", error=f"playlist: {rend.error}",
                camera_id=self.camera_id, labels=labels, latency_s=0.0, metrics=base,
            )  # fmt: skip
        r = fetch(self._session, rend.uri, timeout=self.timeout_s, max_bytes=MAX_PLAYLIST_BYTES)
        if r.error:
            return ProbeResult(
                KIND_RENDITION,
                target,
                ok=False,
                state="HTTP_ERROR",
                error=f"playlist: {r.error}",
                camera_id=self.camera_id,
                labels=labels,
                latency_s=time.perf_counter() - t0,
                metrics={**base, "playlist_http_status": float(r.status)},
            )
        try:
            pl = parse_playlist(r.body, rend.uri)
            state, f = analyse_media(self._media.get(rend.uri), pl, time.monotonic(), self.tolerance)
        except PlaylistError as e:
            return ProbeResult(
                KIND_RENDITION,
                target,
                ok=False,
                state="INVALID",
                error=f"playlist: {e}",
                camera_id=self.camera_id,
                labels=labels,
                latency_s=time.perf_counter() - t0,
                metrics={**base, "playlist_http_status": float(r.status)},
            )
        self._media[rend.uri] = state
        metrics = {
            **base,
            "playlist_http_status": float(r.status),
            "media_sequence": float(state.media_sequence),
            "target_duration_s": f.target_duration,
            "extinf_violations": float(f.extinf_violations),
            "discontinuities_total": float(state.discontinuities_total),
            "sequence_errors_total": float(state.sequence_errors_total),
            "stale": 1.0 if f.stale else 0.0,
            "segments": float(state.segment_count),
            "playlist_download_s": r.elapsed_s,
        }
        conditions = []
        if f.stale:
            conditions.append("HLS_STALE")
        if f.extinf_violations or f.sequence_error:
            conditions.append("HLS_INVALID")
        error = "; ".join(f.problems)
        if self.download_segments and f.newest_segment:
            if check_segment:
                seen = self._check_segment(f.newest_segment, f.target_duration, f.newest_duration)
                self._segment_seen[rend.uri] = seen
            else:  # not its turn: its last measurement stands
                seen = self._segment_seen.get(rend.uri, ({}, ""))
            seg_metrics, seg_error = seen
            metrics.update(seg_metrics)
            if seg_error:
                conditions.append("HLS_SEGMENT_ERROR")
                error = "; ".join(x for x in (error, f"segment: {seg_error}") if x)
        return ProbeResult(
            KIND_RENDITION,
            target,
            ok=True,
            state="STALE" if f.stale else ("OK" if not error else "WARN"),
            error=error,
            camera_id=self.camera_id,
            labels=labels,
            metrics=metrics,
            latency_s=time.perf_counter() - t0,
            conditions=tuple(conditions),
        )

    def _check_segment(self, url: str, target_s: float, duration_s: float) -> tuple[dict[str, float], str]:
        """Download the newest segment once: (metrics, error words). Only its size and the time it took are
        kept. One download at a time per probe (``_segment_lock``): however many renditions are polled in
        parallel, at most one segment body of this camera is in memory."""
        with self._segment_lock:
            s = self._measure_segment(url, target_s)
        metrics = {
            "segment_http_status": float(s.status),
            "segment_download_s": s.elapsed_s,
            "segment_bytes": float(s.size),
        }
        if s.ok and duration_s > 0:
            metrics["segment_bitrate_bps"] = s.size * 8 / duration_s
        return metrics, s.error

    def _measure_segment(self, url: str, target_s: float) -> Measured:
        return measure(
            self._session,
            url,
            timeout=self.timeout_s,
            max_bytes=self.max_segment_bytes,
            deadline_s=min(MAX_SEGMENT_DEADLINE_S, max(self.timeout_s, 3 * target_s)),
        )


@dataclass(frozen=True, slots=True)
class Measured:
    status: int
    size: int  # bytes received
    elapsed_s: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


def measure(session: requests.Session, url: str, *, timeout: float, max_bytes: int, deadline_s: float) -> Measured:
    """GET *url* for its status, size and download time; the body is dropped as soon as it is counted.
    Never raises (``probes.http.fetch``: deadline, size cap and errors in words)."""
    r = fetch(session, url, timeout=timeout, max_bytes=max_bytes, deadline_s=deadline_s)
    return Measured(r.status, len(r.body), r.elapsed_s, r.error)


def is_hls_url(url: str) -> bool:
    u = url.lower().split("?", 1)[0]
    return u.startswith(("http://", "https://")) and u.endswith(".m3u8")
