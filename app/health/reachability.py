"""Can the camera's host be reached? Judged from the stream's own connection, with the network probe's help.

One network connection per camera stream: the pipeline's connection is the only one that touches the
stream's port (a probe connecting there too took single-client cameras OFFLINE). What it ran into says
whether the host answered on that port (the reason words of ``app.pipeline.source``):

====================================  ==========================  ===========================================
the stream's connection               the network probe (ICMP,    verdict (``Reachability.state``)
                                      the camera's probe_port)
====================================  ==========================  ===========================================
LIVE / STALLED, or any answer from    anything                    OK: the host is reachable
the server (401, 404, "not RTSP",
"sent nothing", reset, ended, ...)
"connection refused"                  anything                    PORT_CLOSED: host up, stream service down
"timed out connecting", unreachable   the host answers            PORT_FILTERED: host up, stream port silent
"timed out connecting", unreachable   no answer / not measured    NETWORK_DOWN (the condition, alert
                                                                  NetworkDown)
"DNS: ..."                            anything                    DNS_ERROR
no outcome yet (first connect)        anything                    UNKNOWN: nothing is raised
====================================  ==========================  ===========================================

Connect time-outs with nothing else measured (ICMP not permitted, no probe port) are NETWORK_DOWN, as they
were when the probe's own TCP connects timed out: the stream's connection *is* the TCP connect.

Pure: snapshots and probe results in, a frozen verdict out; :class:`app.health.picture.CameraHealth` calls
it on every state change of the tile pipeline and every network probe result.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from app.pipeline.source import CONNECT_TIMEOUT_WORDS, DNS_WORDS, REFUSED_WORDS, UNREACHABLE_WORDS
from app.pipeline.state import HealthSnapshot, StreamState
from probes.base import ProbeResult
from probes.network import ANSWERED_STATES, SILENT_STATES

NETWORK_DOWN = "NETWORK_DOWN"


class StreamAnswer(enum.StrEnum):
    """What the host did on the stream's port, as the stream's own connection saw it."""

    ANSWERED = "answered"  # the server spoke (pictures, a status, foreign bytes, a hang-up, silence after connect)
    REFUSED = "refused"  # the host answered: nothing listens on the stream port
    NO_ANSWER = "no_answer"  # the TCP connect got no answer (time-out, unreachable)
    DNS = "dns"  # the host name has no address
    UNKNOWN = "unknown"  # no outcome yet (first connect under way, not started) or words that do not say


# Down reasons that say nothing about the host: Vigil's own failures, and bare socket errors.
_UNKNOWN_PREFIXES = ("internal error", "network error", "unsupported URL", "malformed", "unknown demo")


def answer_of_reason(reason: str) -> StreamAnswer:
    """The host's answer behind a down reason of the stream (the words of ``app.pipeline.source``)."""
    if reason.startswith(REFUSED_WORDS):
        return StreamAnswer.REFUSED
    if reason.startswith((CONNECT_TIMEOUT_WORDS, UNREACHABLE_WORDS)):
        return StreamAnswer.NO_ANSWER
    if reason.startswith(DNS_WORDS):
        return StreamAnswer.DNS
    if not reason or reason.startswith(_UNKNOWN_PREFIXES):
        return StreamAnswer.UNKNOWN
    return StreamAnswer.ANSWERED


def stream_answer(snap: HealthSnapshot) -> StreamAnswer:
    """The host's answer as the pipeline's snapshot tells it: its state, or the reason of its last failure
    while it is down or reconnecting (``last_error`` keeps it across the CONNECTING of a retry)."""
    if snap.state in (StreamState.LIVE, StreamState.STALLED):
        return StreamAnswer.ANSWERED  # connected: the host is there
    if snap.state in (StreamState.OFFLINE, StreamState.ERROR):
        return answer_of_reason(snap.reason)
    if snap.state is StreamState.CONNECTING and snap.down_since is not None:
        return answer_of_reason(snap.last_error)
    return StreamAnswer.UNKNOWN


def host_answers(result: ProbeResult | None) -> bool | None:
    """Did the host answer the network probe (ICMP echo or its probe port)? None = not measured."""
    if result is None:
        return None
    if result.state in ANSWERED_STATES:
        return True
    if result.state in SILENT_STATES:
        return False
    return None


@dataclass(frozen=True, slots=True)
class Reachability:
    """The verdict for one camera: ``state`` (OK, PORT_CLOSED, PORT_FILTERED, NETWORK_DOWN, DNS_ERROR, UNKNOWN),
    in words, and the conditions it adds to the camera (only NETWORK_DOWN ever does)."""

    state: str
    words: str = ""
    conditions: tuple[str, ...] = ()


def judge(answer: StreamAnswer, probe: bool | None) -> Reachability:
    """Pure: the stream's answer and the probe's finding (True: the host answered it) -> the verdict."""
    if answer is StreamAnswer.ANSWERED:
        return Reachability("OK", "the camera answers on its stream port")
    if answer is StreamAnswer.REFUSED:
        return Reachability("PORT_CLOSED", "host up, stream service down (connection refused)")
    if answer is StreamAnswer.DNS:
        return Reachability("DNS_ERROR", "host name not found (DNS)")
    if answer is StreamAnswer.NO_ANSWER:
        if probe:
            return Reachability("PORT_FILTERED", "no answer on the stream port, but the host answers the probe")
        why = "nor to the probe" if probe is False else "nothing else measured"
        return Reachability(NETWORK_DOWN, f"no answer to the stream's connect, {why}", (NETWORK_DOWN,))
    return Reachability("UNKNOWN")
