#!/usr/bin/env bash
# Renders three report pages in headless Chromium and saves full-page PNGs, to check by
# eye that the plots read well at every scale (issue 16, section 4):
#   - the priority lab's page            (cellsim lab priority)
#   - the example scenario's page        (cellsim run scenarios/example.yaml)
#   - the full Philly replay's page      (82k jobs; needs ../shared/traces/philly)
#
# Usage: scripts/screenshot-reports.sh [OUT_DIR]      (default: out/screenshots)
# Needs: a built cellsim (cargo build --release) and Debian's chromium
#   (apt-get install -y chromium). The Philly page is skipped, with a notice, when
#   ../shared/traces/philly is absent.
set -euo pipefail

repo="$(cd "$(dirname "$0")/.." && pwd)"
out="${1:-$repo/out/screenshots}"
bin="$repo/target/release/cellsim"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

browser="$(command -v chromium || command -v chromium-browser || true)"
if [ -z "$browser" ]; then
    echo "chromium not found: apt-get install -y chromium" >&2
    exit 1
fi
if [ ! -x "$bin" ]; then
    echo "$bin not found: cargo build --release first" >&2
    exit 1
fi
mkdir -p "$out"

# shot PAGE PNG HEIGHT: a 1400-pixel-wide window, tall enough for the whole page.
shot() {
    "$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars \
        --window-size="1400,$3" --screenshot="$2" "file://$1" >/dev/null 2>&1
    echo "wrote $2 ($(du -h "$1" | cut -f1) page)"
}

"$bin" lab priority --out "$work/labs" >/dev/null
shot "$work/labs/priority/report.html" "$out/lab-priority.png" 3200

"$bin" run "$repo/scenarios/example.yaml" --out "$work/example" >/dev/null
shot "$work/example/report.html" "$out/example.png" 4800

philly="$repo/../shared/traces/philly"
if [ -d "$philly" ]; then
    "$bin" replay --cluster "$philly/cluster_machine_list" --trace "$philly/philly.csv" \
        --out "$work/philly" >/dev/null 2>&1
    shot "$work/philly/report.html" "$out/philly.png" 9000
else
    echo "skipped the Philly page: $philly is absent" >&2
fi
