#!/usr/bin/env bash
# setup.sh — install what Vigil and its tests need, idempotently (fast when already provisioned).
#
#   scripts/setup.sh            # system packages (Debian/Ubuntu, when root) + .venv with Vigil and test tools
#   scripts/setup.sh --runtime  # only what running Vigil needs (no test lab servers)
#
# System packages are installed in ONE apt-get call (much faster than several), with a policy-rc.d so
# nginx/prometheus/postgresql daemons are not started by the install (they would bind public ports).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export DEBIAN_FRONTEND=noninteractive

MODE=full
[[ "${1:-}" == "--runtime" ]] && MODE=runtime

RUNTIME_APT=(
  # PySide6's xcb platform plugin (a real window); offscreen needs none of them
  libxcb-cursor0 libxcb-icccm4 libxcb-image0 libxcb-keysyms1 libxcb-randr0 libxcb-render-util0
  libxcb-shape0 libxcb-xfixes0 libxcb-xkb1 libxcb-sync1 libxkbcommon-x11-0 libegl1 libgl1
  libfontconfig1 libdbus-1-3 fonts-dejavu-core
  # playback of recordings through libvlc (python-vlc); Vigil falls back to PyAV without it
  libvlc5 libvlc-bin vlc-plugin-base vlc-plugin-video-output
  ffmpeg
  # the alarm sound: PortAudio for the sounddevice package (Vigil says in the status bar when it is missing)
  libportaudio2
)
LAB_APT=(
  # RTSP test cameras: gst-rtsp-server driven from Debian's python3 (python3-gi); x264enc (ugly), x265enc,
  # voaacenc and hlssink2 (bad), jpegenc and the RTP payloaders (good); gst-launch-1.0 (tools)
  python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly gstreamer1.0-plugins-bad gstreamer1.0-x gstreamer1.0-tools
  # VLC as an RTSP server (cvlc; its plugins come with vlc-plugin-base above)
  vlc-bin
  # RTMP ingest + HLS over HTTP
  nginx libnginx-mod-rtmp curl
  # real-window tests and screenshots; a system tray host for the alarm notification test
  xvfb xauth x11-utils imagemagick trayer
  # Prometheus server + promtool (scrape test, exposition lint); PostgreSQL (shared-history store tests)
  prometheus postgresql
  # Alertmanager: alert delivery, re-sends under resolve_timeout, a long outage that must stay firing
  prometheus-alertmanager
  # the alarm-sound counterpart: a PulseAudio server with a null sink (pactl/parec), reached by PortAudio
  # through ALSA's pulse plugin (tests/lab/audio.py)
  pulseaudio pulseaudio-utils libasound2-plugins
  # secrets at rest through a real OS keyring: gnome-keyring's Secret Service on a private D-Bus session bus
  # (tests/test_keystore.py)
  gnome-keyring dbus-daemon
  python3-venv
)

apt_install() {
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || { echo "[setup] system packages: all present"; return 0; }
  if [[ $(id -u) -ne 0 ]]; then
    echo "[setup] missing system packages (run as root to install): ${missing[*]}" >&2
    return 1
  fi
  local policy=/usr/sbin/policy-rc.d created=0
  if [[ ! -e $policy ]]; then printf '#!/bin/sh\nexit 101\n' >"$policy"; chmod 755 "$policy"; created=1; fi
  echo "man-db man-db/auto-update boolean false" | debconf-set-selections 2>/dev/null || true
  rm -f /var/lib/man-db/auto-update
  local t0=$SECONDS
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends \
    -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold -o Dpkg::Options::=--force-unsafe-io \
    "${missing[@]}" >/dev/null
  ((created)) && rm -f "$policy"
  echo "[setup] apt: installed ${#missing[@]} packages in $((SECONDS - t0)) s"
}

if command -v dpkg-query >/dev/null; then
  if [[ $MODE == full ]]; then apt_install "${RUNTIME_APT[@]}" "${LAB_APT[@]}"; else apt_install "${RUNTIME_APT[@]}" || true; fi
fi

PY=${PYTHON:-python3}
if [[ ! -x .venv/bin/python ]]; then
  "$PY" -m venv .venv
  .venv/bin/pip install -q --upgrade pip
fi
stamp=.venv/.vigil-installed
want="$(sha256sum pyproject.toml | cut -c1-16)-$MODE"
if [[ ! -f $stamp ]] || ! grep -qx -- "$want" "$stamp" && ! grep -qx -- "${want%-*}-full" "$stamp"; then
  t0=$SECONDS
  if [[ $MODE == full ]]; then .venv/bin/pip install -q -e ".[dev]"; else .venv/bin/pip install -q -e .; fi
  echo "$want" >"$stamp"
  echo "[setup] python packages installed in $((SECONDS - t0)) s"
else
  echo "[setup] python packages: up to date"
fi
