#!/usr/bin/env bash
# Build Vigil's one-folder desktop bundle: dist/vigil/vigil (+ dist/vigil/_internal/).
#
#   packaging/build.sh                 # into dist/vigil, work files in build/pyinstaller
#   packaging/build.sh --dist DIR --work DIR
#
# Uses the project venv's PyInstaller (dev extra). Prints the bundle size and the build time.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIST="$ROOT/dist"
WORK="$ROOT/build/pyinstaller"
while [[ $# -gt 0 ]]; do
  case "$1" in
    --dist) DIST="$2"; shift 2 ;;
    --work) WORK="$2"; shift 2 ;;
    -h|--help) sed -n 2,7p "$0"; exit 0 ;;
    *) echo "build.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PY="${VIGIL_PYTHON:-$ROOT/.venv/bin/python}"
if ! "$PY" -c "import PyInstaller" 2>/dev/null; then
  echo "build.sh: PyInstaller is not installed in $PY (pip install -e '.[dev]')" >&2
  exit 2
fi
cd "$ROOT"
start=$(date +%s%N)
"$PY" -m PyInstaller --noconfirm --clean --log-level WARN --distpath "$DIST" --workpath "$WORK" packaging/vigil.spec
end=$(date +%s%N)
BUNDLE="$DIST/vigil"
[[ -x "$BUNDLE/vigil" ]] || { echo "build.sh: no executable at $BUNDLE/vigil" >&2; exit 1; }
size_mb=$(du -sm "$BUNDLE" | cut -f1)
files=$(find "$BUNDLE" -type f | wc -l)
ms=$(( (end - start) / 1000000 ))
printf 'bundle: %s\nsize: %s MB (%s files)\nbuild time: %d.%d s\n' "$BUNDLE" "$size_mb" "$files" $((ms / 1000)) $((ms % 1000 / 100))
