#!/usr/bin/env bash
# Load benchmark of `cellsim serve --standalone` (issue 19): the 10,240-GPU cluster,
# journal on the disk given as $1 (default: a fresh folder under /tmp, which is ext4 here),
# 1 / 4 / 16 / 64 clients for $SECONDS_PER_RUN seconds each (default 25), occupancy 70-90%.
# Usage: cargo build --release && reports/2026-12-06-live-load/run.sh [DIR] > out.txt
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=./target/release/cellsim
CONFIG=scenarios/clusters/hived-10240.yaml
DIR=${1:-$(mktemp -d /tmp/cellsim-load.XXXXXX)}
SECS=${SECONDS_PER_RUN:-25}
PORT=${PORT:-19190}
for clients in ${CLIENTS:-1 4 16 64}; do
  rm -f "$DIR"/journal*
  "$BIN" serve --standalone --journal "$DIR/journal" --config "$CONFIG" \
    --listen "127.0.0.1:$PORT" 2>"$DIR/serve.err" &
  server=$!
  until curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null; do sleep 0.1; done
  t0=$(awk '{print $14+$15}' /proc/$server/stat)
  echo "== $clients clients, journal in $DIR ($(stat -f -c %T "$DIR"))"
  "$BIN" load --config "$CONFIG" --url "http://127.0.0.1:$PORT" --clients "$clients" --seconds "$SECS"
  t1=$(awk '{print $14+$15}' /proc/$server/stat)
  echo "server CPU: $(( (t1 - t0) ))0 ms"
  curl -s "http://127.0.0.1:$PORT/metrics" | grep -E '^cellsim_journal_(write_duration_seconds_(sum|count)|compactions_total|bytes)'
  kill "$server"; wait "$server" || true
done
