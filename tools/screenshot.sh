#!/usr/bin/env bash
# Renders an HTML page (e.g. `milliwatt report -o report.html`) to a PNG with headless Chromium,
# so a person can look at what the report shows. Needs Debian's `chromium` (apt-get install
# chromium); not installed by tools/setup.sh, as no test depends on it.
#   tools/screenshot.sh report.html [out.png] [width] [height]
set -euo pipefail
if [ $# -lt 1 ]; then
  echo "usage: $0 PAGE.html [OUT.png] [WIDTH] [HEIGHT]" >&2
  exit 2
fi
page=$(realpath "$1")
out=${2:-${1%.html}.png}
width=${3:-1400}
height=${4:-4000}
browser=$(command -v chromium || command -v chromium-browser || true)
if [ -z "$browser" ]; then
  echo "screenshot: needs chromium (Debian: apt-get install chromium)" >&2
  exit 3
fi
out_abs=$(realpath -m "$out")
profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
  --user-data-dir="$profile" --window-size="$width,$height" \
  --screenshot="$out_abs" "file://$page" >/dev/null 2>&1
[ -s "$out_abs" ] || { echo "screenshot: chromium wrote nothing" >&2; exit 1; }
echo "wrote $out"
