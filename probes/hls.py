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

Network part: :class:`HlsProbe` polls master + every media playlist and downloads the newest segment
of each rendition (time, HTTP status, bytes), with timeouts and size caps; every failure is a result
with ``ok=False`` and words, never an exception. A master playlist that cannot be fetched or parsed
carries the condition ``HLS_MASTER_ERROR`` (alert ``HlsMasterError``): without it the whole channel could
be gone and nothing would alert.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field

import m3u8

from app.secrets import mask_url
from probes.base import ProbeContext, ProbeResult
from probes.http import fetch, make_session

log = logging.getLogger(__name__)

KIND = "hls"
KIND_RENDITION = "hls_rendition"
MAX_PLAYLIST_BYTES = 2_000_000
MAX_SEGMENTS = 20_000
MAX_VARIANTS = 64
STALE_FACTOR = 1.5
MASTER_ERROR = "HLS_MASTER_ERROR"


class PlaylistError(ValueError):
    """The playlist cannot be used; the message says why, in words."""


def parse_playlist(text: str | bytes, uri: str = "") -> m3u8.M3U8:
    if isinstance(text, bytes):
        if len(text) > MAX_PLAYLIST_BYTES:
            raise PlaylistError(f"playlist too large ({len(text):,} bytes, limit {MAX_PLAYLIST_BYTES:,})")
        if b"\x00" in text:
            raise PlaylistError("not an HLS playlist: binary data")
        try:
            text = text.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise PlaylistError("not an HLS playlist: not UTF-8 text") from None
    if not text.strip():
        raise PlaylistError("empty playlist")
    if not text.lstrip("\ufeff").lstrip().startswith("#EXTM3U"):
        first = text.strip().splitlines()[0][:40]
        raise PlaylistError(f"not an HLS playlist: no #EXTM3U header (starts with {first!r})")
    if text.count("\n") > MAX_SEGMENTS * 4:
        raise PlaylistError(f"playlist has too many lines ({text.count(chr(10)):,})")
    try:
        pl = m3u8.loads(text, uri=uri or None)
    except Exception as e:  # the parser raises ValueError/KeyError/IndexError/AttributeError on bad tags
        raise PlaylistError(f"malformed playlist: {type(e).__name__}: {str(e)[:100]}") from None
    if (pl.is_variant and not pl.playlists) or (not pl.is_variant and not pl.segments and not pl.is_endlist):
        raise PlaylistError("playlist has no variants and no segments (truncated or empty)")
    if len(pl.segments) > MAX_SEGMENTS:
        raise PlaylistError(f"playlist has {len(pl.segments):,} segments (limit {MAX_SEGMENTS:,})")
    return pl


@dataclass(frozen=True, slots=True)
class Rendition:
    uri: str  # absolute
    name: str  # unique label for metrics: "1280x720@3000k", or the playlist path
    bandwidth: int
    width: int = 0
    height: int = 0
    codecs: str = ""

    @property
    def resolution(self) -> str:
        return f"{self.width}x{self.height}" if self.width and self.height else ""


def parse_ladder(master: m3u8.M3U8) -> list[Rendition]:
    """Variants of a master playlist, highest bandwidth first. Raises PlaylistError if it has none."""
    if not master.is_variant:
        raise PlaylistError("not a master playlist (no #EXT-X-STREAM-INF variants)")
    if len(master.playlists) > MAX_VARIANTS:
        raise PlaylistError(f"master playlist lists {len(master.playlists)} variants (limit {MAX_VARIANTS})")
    out = []
    for p in master.playlists:
        si = p.stream_info
        bw = si.bandwidth if isinstance(si.bandwidth, int) else 0
        res = si.resolution if isinstance(si.resolution, tuple) and len(si.resolution) == 2 else (0, 0)
        uri = p.absolute_uri if p.base_uri else p.uri
        w, h = int(res[0] or 0), int(res[1] or 0)
        if w and h:
            name = f"{w}x{h}@{round(bw / 1000)}k" if bw > 0 else f"{w}x{h}"
        else:
            name = (p.uri or "?").rsplit("/", 2)[-2 if "/" in (p.uri or "") else -1]
        out.append(Rendition(uri=uri, name=name, bandwidth=bw, width=w, height=h, codecs=si.codecs or ""))
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
    if not isinstance(td, (int, float)) or td <= 0:
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
        d = s.duration if isinstance(s.duration, (int, float)) else -1
        if d <= 0 or d > td * (1 + tolerance) or (i < len(segs) - 1 and d < td * (1 - tolerance)):
            f.extinf_violations += 1
    if f.extinf_violations:
        f.problems.append(f"{f.extinf_violations} segment(s) with EXTINF outside {td:g} s ±{tolerance:.0%}")
    in_playlist_disc = sum(1 for s in segs if s.discontinuity)
    last_uri = segs[-1].uri or ""
    f.newest_segment = segs[-1].absolute_uri if segs[-1].base_uri else last_uri
    f.newest_duration = float(segs[-1].duration or 0)
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
        max_segment_bytes: int = 50_000_000,
        parallelism: int = 4,
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
        self._session = make_session(parallelism + 1)
        self._media: dict[str, MediaState] = {}
        self.validation_errors_total = 0

    def close(self) -> None:
        self._session.close()

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
        if ctx is not None:
            rung_results = ctx.map(self._probe_rendition, ladder, self.parallelism)
        else:
            rung_results = [self._probe_rendition(x) for x in ladder]
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
            error="; ".join(problems)[:500],
            camera_id=self.camera_id,
            latency_s=time.perf_counter() - t0,
            labels={"url": self.masked_url, "ladder": ",".join(x.name for x in ladder)},
            metrics={
                "playlist_valid": 1.0 if valid else 0.0,
                "abr_rung_count": float(len(ladder)),
                "expected_rung_count": float(len(self.expected)),
                "validation_errors_total": self.validation_errors_total,
                "master_download_s": r.elapsed_s,
                "http_status": float(r.status),
            },
            conditions=("HLS_INVALID",) if not valid else (),
        )
        return [master, *rung_results]

    def _probe_rendition(self, rend: Rendition) -> ProbeResult:
        t0 = time.perf_counter()
        labels = {
            "rendition": rend.name,
            "resolution": rend.resolution,
            "codecs": rend.codecs,
            "bandwidth": str(rend.bandwidth),
        }
        base = {"bandwidth_bps": float(rend.bandwidth)}
        target = f"{self.camera_id}/{rend.name}"
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
            s = fetch(
                self._session,
                f.newest_segment,
                timeout=self.timeout_s,
                max_bytes=self.max_segment_bytes,
                deadline_s=max(self.timeout_s, 3 * f.target_duration),
            )
            metrics["segment_http_status"] = float(s.status)
            metrics["segment_download_s"] = s.elapsed_s
            metrics["segment_bytes"] = float(len(s.body))
            if s.ok and f.newest_duration > 0:
                metrics["segment_bitrate_bps"] = len(s.body) * 8 / f.newest_duration
            if not s.ok:
                conditions.append("HLS_SEGMENT_ERROR")
                error = "; ".join(x for x in (error, f"segment: {s.error}") if x)
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


def is_hls_url(url: str) -> bool:
    u = url.lower().split("?", 1)[0]
    return u.startswith(("http://", "https://")) and u.endswith(".m3u8")
