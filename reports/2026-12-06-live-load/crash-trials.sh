#!/usr/bin/env bash
# Full-size crash trials of the standalone journal (issue 19; the CI-sized version is
# tests/it/live_crash.rs): the 10,240-GPU cluster under 16 clients of `cellsim load`,
# the server killed with SIGKILL after a random 5-20 s (compaction every 10,000 lines
# happens every few seconds at this load, so kills land before, in and after one) or, every
# fifth trial, stopped with SIGTERM; restarted on the same journal and checked with
# `cellsim load --check` against the client's ledger (every acknowledged bind on its nodes
# and devices, every acknowledged delete gone, no unknown group). Stops at the first
# mismatch. Usage: cargo build --release && reports/2026-12-06-live-load/crash-trials.sh [TRIALS] [DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=./target/release/cellsim
CONFIG=scenarios/clusters/hived-10240.yaml
TRIALS=${1:-20}
DIR=${2:-$(mktemp -d /tmp/cellsim-crash.XXXXXX)}
PORT=${PORT:-19290}
URL="http://127.0.0.1:$PORT"
start() {
  "$BIN" serve --standalone --journal "$DIR/journal" --config "$CONFIG" \
    --listen "127.0.0.1:$PORT" 2>>"$DIR/serve.err" &
  server=$!
  until curl -sf "$URL/healthz" >/dev/null; do sleep 0.1; done
}
for trial in $(seq 1 "$TRIALS"); do
  start
  "$BIN" load --config "$CONFIG" --url "$URL" --clients 16 --seconds 600 --seed "$trial" \
    --ledger "$DIR/ledger.json" > "$DIR/load-$trial.txt" 2>&1 &
  client=$!
  sleep "$(( (RANDOM % 16) + 5 ))"
  if (( trial % 5 == 0 )); then how=SIGTERM; kill -TERM "$server"; else how=SIGKILL; kill -KILL "$server"; fi
  wait "$server" || true
  wait "$client" || true
  start
  echo -n "trial $trial ($how): "
  "$BIN" load --config "$CONFIG" --url "$URL" --ledger "$DIR/ledger.json" --check
  kill -TERM "$server"; wait "$server" || true
done
echo "torn tails kept aside: $(ls "$DIR" | grep -c "torn-" || true)"
