#!/usr/bin/python3
"""Loopback RTSP test-camera server for Vigil's test lab (GStreamer gst-rtsp-server via PyGObject).

Run it with Debian's own interpreter (/usr/bin/python3), NOT the project venv: the `gi`
bindings come from the Debian package python3-gi. Normally started by
``tests.lab.servers.RtspServer``; it can be run by hand too:

  /usr/bin/python3 tests/lab/rtsp_server.py --port 8554 --mounts 8
  /usr/bin/python3 tests/lab/rtsp_server.py --port 8554 --mounts 32 --clip clip.h264 --fps 15

Mounts:
  /cam1 .. /camN       live video (videotestsrc is-live, GOP --gop-seconds) with the camera name and a
                       running clock burnt in: --codec h264 (x264enc ultrafast/zerolatency, default),
                       hevc (x265enc ultrafast/zerolatency + rtph265pay) or mjpeg (jpegenc +
                       rtpjpegpay: every picture a keyframe); --audio aac adds a 440 Hz tone (voaacenc +
                       rtpmp4gpay, AAC-hbr). Or, with --clip FILE, a pre-encoded H.264 file served by
                       stream copy, looped forever (no encoder: cheap enough for 32 cameras on 2 cores).
  /secure1 .. /secureK same source, but require RTSP Basic or Digest authentication
                       (--auth-method basic|digest, one per server; --secure-user /
                       --secure-password, default admin / s3cret!). A missing or wrong password
                       gets "401 Unauthorized".

--clip accepts a raw Annex-B H.264 elementary stream (.h264/.264, looped with multifilesrc;
its frame rate must be given with --fps) or an .mp4/.mkv/.mov (demuxed, played once, not
looped: prefer .h264, see tests.lab.servers.make_clip which writes both).

Media are shared between clients of the same mount and only built when the first client
connects (idle server ~0 % CPU). Prints "RTSP ready: ..." on stdout once listening.

apt: python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
     (jpegenc, rtpjpegpay, rtph265pay, rtpmp4gpay) gstreamer1.0-plugins-bad (h264parse, x265enc,
     voaacenc) gstreamer1.0-plugins-ugly (x264enc) gstreamer1.0-x (textoverlay/timeoverlay)
"""

import argparse
import os
import signal
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PATTERNS = [
    "smpte",
    "ball",
    "pinwheel",
    "spokes",
    "gradient",
    "colors",
    "circular",
    "zone-plate",
    "checkers-8",
    "bar",
    "smpte75",
    "smpte100",
]


def pay(config_interval: int = 1) -> str:
    """The RTP payloader. *config_interval* 1: SPS/PPS in-band once a second; -1: before every IDR (the
    parameter sets and the IDR slices are packets of one timestamp); 0: only in the SDP."""
    return f"rtph264pay name=pay0 pt=96 config-interval={config_interval}"


PAY = pay()
CODECS = ("h264", "hevc", "mjpeg")


def encode_and_pay(a) -> str:
    """Encoder ! payloader for --codec. With --config-interval 0 the H.264 parameter sets are in the SDP's
    sprop-parameter-sets and nowhere else: x264 itself repeats SPS/PPS before every IDR (whatever the
    stream format) unless told ``repeat-headers=0``."""
    gop = a.fps * a.gop_seconds
    if a.codec == "hevc":
        # one worker thread (x265 starts a pool per core otherwise); no B-frames; closed GOPs (every keyframe
        # an IDR, as cameras send, not x265's default CRA); VPS/SPS/PPS in-band only where the payloader
        # puts them (x265 does not repeat them by default)
        return (
            f"x265enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} key-int-max={gop} "
            f'option-string="pools=1:frame-threads=1:bframes=0:open-gop=0" '
            f"! video/x-h265,profile=main "
            f"! rtph265pay name=pay0 pt=96 config-interval={a.config_interval}"
        )
    if a.codec == "mjpeg":
        # RTP/JPEG (RFC 2435): static payload type 26, width and height multiples of 8 up to 2040
        return f"jpegenc quality={a.jpeg_quality} ! rtpjpegpay name=pay0 pt=26"
    # slices > 0: every picture in that many slices (separate NAL units, one RTP timestamp), as many
    # encoders in cameras do
    x264_opts = [f"slices={a.slices}"] if a.slices else []
    if a.config_interval == 0:
        x264_opts.append("repeat-headers=0")
    opts = f'option-string="{":".join(x264_opts)}" ' if x264_opts else ""
    return (
        f"x264enc tune=zerolatency speed-preset=ultrafast bitrate={a.bitrate} "
        f"key-int-max={gop} threads=1 {opts}"
        f"! video/x-h264,profile=baseline "
        f"! {pay(a.config_interval)}"
    )


def audio_branch(a, pt: int = 97) -> str:
    """A second stream of the same media: a 440 Hz tone as AAC (MPEG4-GENERIC, AAC-hbr)."""
    if a.audio != "aac":
        return ""
    return (
        f" audiotestsrc is-live=true wave=sine freq=440 volume=0.3 "
        f"! audio/x-raw,rate=44100,channels=1 ! audioconvert ! voaacenc bitrate=64000 "
        f"! aacparse ! rtpmp4gpay name=pay1 pt={pt}"
    )


def live_launch(name, i, a):
    pattern = PATTERNS[(i - 1) % len(PATTERNS)]
    overlay = ""
    if not a.no_overlay:
        overlay = (
            f' ! textoverlay text="{name}" valignment=top halignment=left font-desc="Sans 24"'
            f' ! timeoverlay valignment=bottom halignment=right font-desc="Sans 20"'
        )
    return (
        f"( videotestsrc is-live=true pattern={pattern} "
        f"! video/x-raw,format=I420,width={a.width},height={a.height},framerate={a.fps}/1"
        f"{overlay} "
        f"! {encode_and_pay(a)}{audio_branch(a)} )"
    )


def clip_launch(a):
    path = os.path.abspath(a.clip).replace("\\", "\\\\").replace('"', '\\"')
    ext = os.path.splitext(path)[1].lower()
    if ext in (".h264", ".264", ".avc"):
        # multifilesrc re-reads the same file forever (no %d in location): one continuous byte
        # stream; h264parse interpolates timestamps from the frame rate, the RTSP sink paces it.
        return (
            f'( multifilesrc location="{path}" loop=true '
            f'caps="video/x-h264,stream-format=byte-stream,framerate={a.fps}/1" '
            f"! h264parse ! video/x-h264,stream-format=avc,alignment=au ! {PAY} )"
        )
    demux = "matroskademux" if ext in (".mkv", ".webm") else "qtdemux"
    return f'( filesrc location="{path}" ! {demux} ! h264parse ! {PAY} )'


def make_factory(launch, shared=True):
    f = GstRtspServer.RTSPMediaFactory()
    f.set_launch(launch)
    f.set_shared(shared)  # one pipeline per mount, whatever the number of clients
    return f


def allow(factory, *roles, visible_to=("anonymous",)):
    """Let `roles` play the mount. Roles in `visible_to` may see it ("access") but not play it
    ("construct"): gst-rtsp-server answers them 401 (with WWW-Authenticate) instead of 404."""
    perms = GstRtspServer.RTSPPermissions()
    for role in set(roles) | set(visible_to):
        perms.add_permission_for_role(role, "media.factory.access", True)
        perms.add_permission_for_role(role, "media.factory.construct", role in roles)
    factory.set_permissions(perms)


def token_for(role):
    tok = (
        GstRtspServer.RTSPToken.new_empty()
        if hasattr(GstRtspServer.RTSPToken, "new_empty")
        else GstRtspServer.RTSPToken()
    )
    tok.set_string("media.factory.role", role)
    return tok


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--port", type=int, default=8554)
    p.add_argument("--mounts", type=int, default=1, help="number of cameras /cam1../camN")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--bitrate", type=int, default=800, help="kbit/s (live mode)")
    p.add_argument("--gop-seconds", type=int, default=1)
    p.add_argument("--config-interval", type=int, default=1, help="rtph264pay config-interval (-1: every IDR)")
    p.add_argument("--slices", type=int, default=0, help="x264 slices per picture (0: one)")
    p.add_argument("--codec", choices=CODECS, default="h264", help="video codec of the live mounts")
    p.add_argument("--jpeg-quality", type=int, default=60, help="jpegenc quality (--codec mjpeg)")
    p.add_argument("--audio", choices=("none", "aac"), default="none", help="add an audio stream (live mode)")
    p.add_argument("--no-overlay", action="store_true", help="skip text/time overlays (less CPU)")
    p.add_argument("--clip", help="serve this pre-encoded H.264 file by stream copy instead of encoding")
    p.add_argument("--secure-mounts", type=int, default=1, help="number of auth mounts /secure1..K")
    p.add_argument("--secure-user", default="admin")
    p.add_argument("--secure-password", default="s3cret!")
    p.add_argument("--realm", default="Vigil Lab")
    p.add_argument("--auth-method", choices=("basic", "digest"), default="basic")
    a = p.parse_args()

    if a.clip and not os.path.isfile(a.clip):
        print(f"clip not found: {a.clip}", file=sys.stderr)
        return 2
    if a.codec == "mjpeg" and (a.width % 8 or a.height % 8 or max(a.width, a.height) > 2040):
        print("RTP/JPEG needs a width and height that are multiples of 8, at most 2040", file=sys.stderr)
        return 2

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(a.address)
    server.set_service(str(a.port))
    mounts = server.get_mount_points()

    def launch(name, i):
        return clip_launch(a) if a.clip else live_launch(name, i, a)

    for i in range(1, a.mounts + 1):
        f = make_factory(launch(f"cam{i}", i))
        allow(f, "anonymous", "user")
        mounts.add_factory(f"/cam{i}", f)

    if a.secure_mounts > 0:
        auth = GstRtspServer.RTSPAuth()
        # GI exposes GstRTSPAuthMethod as an enum, so BASIC|DIGEST cannot be passed: one method per server.
        method = GstRtsp.RTSPAuthMethod.DIGEST if a.auth_method == "digest" else GstRtsp.RTSPAuthMethod.BASIC
        auth.set_supported_methods(method)
        auth.set_realm(a.realm)
        # Clients without (valid) credentials get the anonymous role: they may play /camN only.
        auth.set_default_token(token_for("anonymous"))
        user_token = token_for("user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.secure_user, a.secure_password), user_token)
        auth.add_digest(a.secure_user, a.secure_password, user_token)
        server.set_auth(auth)
        for k in range(1, a.secure_mounts + 1):
            f = make_factory(launch(f"secure{k}", a.mounts + k))
            allow(f, "user")
            mounts.add_factory(f"/secure{k}", f)

    if server.attach(None) == 0:
        print(f"cannot bind {a.address}:{a.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for s in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, s, loop.quit)
    audio = " + AAC" if a.audio == "aac" else ""
    src = f"clip {a.clip}" if a.clip else f"{a.width}x{a.height}@{a.fps} {a.codec}{audio} live"
    print(
        f"RTSP ready: rtsp://{a.address}:{a.port}/cam1 .. /cam{a.mounts}"
        f" + /secure1 .. /secure{a.secure_mounts} ({src})",
        flush=True,
    )
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
