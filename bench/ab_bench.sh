#!/usr/bin/env bash
# A/B eval benchmark, printed as figures and ratios: prompts/s and tokens/s of
# `gauntlet eval ab` (105 built-in prompts, clean vs poisoned lab adapters)
#   1. on the embedded local cluster with 1 and 2 eval workers;
#   2. through a real coordinator with 1 and 2 gauntlet-eval-worker processes
#      (gRPC, one batch of 16 prompts per task).
# Trains the lab once into a scratch workdir (the base is cached there).
# Usage: bench/ab_bench.sh [WORKDIR]
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
GAUNTLET=$BUILD/cli/gauntlet
export OMP_WAIT_POLICY=PASSIVE
scripts/install-deps.sh >/dev/null
[ -x "$BUILD/worker/gauntlet-eval-worker" ] || scripts/build.sh
WORK=${1:-/tmp/gauntlet-ab-bench}
PIDS=()
cleanup() { for pid in "${PIDS[@]:-}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT
source bench/timing.sh

"$GAUNTLET" lab train --workdir "$WORK" >/dev/null
AB=("$GAUNTLET" eval ab --base "$WORK/base" --a-adapter "$WORK/adapters/clean"
    --b-adapter "$WORK/adapters/poisoned" --format json)
prompts=105
"${AB[@]}" --workers 1 --output "$WORK/ab.json" || true  # Exit 1: BACKDOOR, as expected.
tokens=$(/usr/bin/python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print(sum(len(p[s]["response"].split()) for p in r["prompts"] for s in ("a", "b")))' "$WORK/ab.json")

echo "== 1. Embedded local cluster =="
for workers in 1 2; do
  t=$(best_of 3 "${AB[@]}" --workers "$workers")
  echo "$workers eval worker(s): $(calc "$prompts / $t") prompts/s, ~$(calc "$tokens / $t") answer words/s ($t s for $prompts prompts, model loads and start-up included)"
done

echo "== 2. Coordinator + gauntlet-eval-worker processes (gRPC) =="
for workers in 1 2; do
  log=$(mktemp)
  # Plaintext on loopback; every call still carries a token.
  worker_token=$("$BUILD/coordinator/gauntlet-coordinator" tokens create --role worker bench \
    --db "$WORK/bench-$workers.db" 2>/dev/null)
  export GAUNTLET_INSECURE=1 GAUNTLET_TOKEN
  GAUNTLET_TOKEN=$("$BUILD/coordinator/gauntlet-coordinator" tokens create --role tenant bench \
    --db "$WORK/bench-$workers.db" 2>/dev/null)
  "$BUILD/coordinator/gauntlet-coordinator" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --db "$WORK/bench-$workers.db" --allow-root "$WORK" --insecure >"$log" 2>&1 &
  PIDS+=($!)
  for _ in $(seq 100); do grep -q "listening on" "$log" && break; sleep 0.05; done
  address=$(grep -o "listening on [0-9.]*:[0-9]*" "$log" | cut -d' ' -f3)
  for i in $(seq "$workers"); do
    GAUNTLET_TOKEN=$worker_token "$BUILD/worker/gauntlet-eval-worker" --coordinator "$address" \
      --name "bench-$i" >/dev/null 2>&1 &
    PIDS+=($!)
  done
  "${AB[@]}" --coordinator "$address" >/dev/null 2>&1 || true  # Warm: models loaded and cached.
  t=$(best_of 3 "${AB[@]}" --coordinator "$address")
  echo "$workers worker(s): $(calc "$prompts / $t") prompts/s, ~$(calc "$tokens / $t") answer words/s ($t s, models cached on the workers)"
  cleanup
  PIDS=()
  rm -rf "$WORK"/bench-*.db*
done
