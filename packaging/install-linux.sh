#!/usr/bin/env bash
# Install (or remove) a built Vigil bundle on Linux, with its menu entry and icon.
#
#   packaging/install-linux.sh [--user|--system] [--bundle DIR] [--uninstall]
#
#   --user    (default when not root) ~/.local/opt/vigil, ~/.local/bin/vigil, ~/.local/share/applications
#   --system  (default as root)       /opt/vigil, /usr/local/bin/vigil, /usr/share/applications
#   --bundle  the built one-folder bundle (default: dist/vigil next to this script's checkout)
#
# The .desktop entry gets the absolute path of the installed binary (~/.local/bin is not on every
# desktop session's PATH). Re-running upgrades in place: the old folder is replaced atomically-ish
# (copied next to it, then swapped), so a failed copy leaves the previous install working.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
MODE=""
BUNDLE="$ROOT/dist/vigil"
UNINSTALL=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --user) MODE=user; shift ;;
    --system) MODE=system; shift ;;
    --bundle) BUNDLE="$2"; shift 2 ;;
    --uninstall) UNINSTALL=1; shift ;;
    -h|--help) sed -n 2,12p "$0"; exit 0 ;;
    *) echo "install-linux.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
[[ -n "$MODE" ]] || { [[ $(id -u) -eq 0 ]] && MODE=system || MODE=user; }

if [[ $MODE == system ]]; then
  APPDIR=/opt/vigil; BINDIR=/usr/local/bin; SHARE=/usr/share
else
  APPDIR="$HOME/.local/opt/vigil"; BINDIR="$HOME/.local/bin"; SHARE="${XDG_DATA_HOME:-$HOME/.local/share}"
fi
DESKTOP="$SHARE/applications/vigil.desktop"
ICON_PNG="$SHARE/icons/hicolor/256x256/apps/vigil.png"
ICON_SVG="$SHARE/icons/hicolor/scalable/apps/vigil.svg"

refresh_caches() {
  command -v update-desktop-database >/dev/null && update-desktop-database -q "$SHARE/applications" 2>/dev/null || true
  command -v gtk-update-icon-cache >/dev/null && gtk-update-icon-cache -q -t "$SHARE/icons/hicolor" 2>/dev/null || true
}

if [[ $UNINSTALL -eq 1 ]]; then
  rm -rf "$APPDIR"
  rm -f "$BINDIR/vigil" "$DESKTOP" "$ICON_PNG" "$ICON_SVG"
  refresh_caches
  echo "Vigil removed from $APPDIR (settings and recordings in your data folder are kept)"
  exit 0
fi

[[ -x "$BUNDLE/vigil" ]] || { echo "install-linux.sh: no built bundle at $BUNDLE (run packaging/build.sh first)" >&2; exit 1; }
RES="$BUNDLE/_internal/resources"
[[ -d "$RES" ]] || RES="$ROOT/resources"

mkdir -p "$(dirname "$APPDIR")" "$BINDIR" "$(dirname "$DESKTOP")" "$(dirname "$ICON_PNG")" "$(dirname "$ICON_SVG")"
rm -rf "$APPDIR.new"
cp -a "$BUNDLE" "$APPDIR.new"
rm -rf "$APPDIR.old"
[[ -e "$APPDIR" ]] && mv "$APPDIR" "$APPDIR.old"
mv "$APPDIR.new" "$APPDIR"
rm -rf "$APPDIR.old"
ln -sfn "$APPDIR/vigil" "$BINDIR/vigil"
install -m 0644 "$RES/vigil.png" "$ICON_PNG"
install -m 0644 "$RES/vigil.svg" "$ICON_SVG"
sed -e "s|^Exec=.*|Exec=$APPDIR/vigil|" -e "s|^TryExec=.*|TryExec=$APPDIR/vigil|" "$RES/vigil.desktop" > "$DESKTOP.tmp"
chmod 0644 "$DESKTOP.tmp"
mv "$DESKTOP.tmp" "$DESKTOP"
refresh_caches
echo "Vigil $("$APPDIR/vigil" --version 2>/dev/null | awk '{print $2}') installed in $APPDIR"
echo "  command: $BINDIR/vigil    menu entry: $DESKTOP"
