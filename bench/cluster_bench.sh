#!/usr/bin/env bash
# Cluster benchmarks, printed as figures and ratios:
#   1. coordinator dispatch capacity with trivial tasks (build/bench/dispatch_bench;
#      target >= 20,000 tasks/s);
#   2. end-to-end files/s through a real coordinator and 1, 2 and 4 workers
#      (one slot each, verdict cache off so every file is scanned) against the
#      single-process CLI on the same corpus, in-process and --isolate (the
#      workers' own sandbox); per-file overhead the cluster adds; target: cluster
#      overhead <= 20% against the same scan in one process. Each cluster run is
#      timed over TLS (the default, certificates made here) and over
#      --insecure plaintext, both with token authentication: the cost of TLS.
# Two corpora: 1,000 small real torch.save/pickle files, and 100 ~1 MB pickles.
# Usage: bench/cluster_bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD_DIR:-build}
GAUNTLET=$BUILD/cli/gauntlet
scripts/install-deps.sh >/dev/null
[ -x "$BUILD/bench/dispatch_bench" ] || scripts/build.sh
WORK=$(mktemp -d /tmp/gauntlet-cluster-bench.XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]:-}"; do kill -9 "$pid" 2>/dev/null || true; done
  rm -rf "$WORK"
}
trap cleanup EXIT

source bench/timing.sh
wait_for_line() {  # wait_for_line FILE PREFIX -> the port after PREFIX
  for _ in $(seq 100); do
    local port; port=$(grep -o "$2 [0-9.]*:[0-9]*" "$1" 2>/dev/null | head -1 | cut -d: -f2)
    if [ -n "$port" ]; then echo "$port"; return; fi
    sleep 0.05
  done
  echo "no '$2' in $1" >&2; exit 1
}

echo "== 1. Dispatch capacity (trivial tasks) =="
"$BUILD/bench/dispatch_bench" --benchmark_min_time=1 2>/dev/null | grep -E "BM_" |
  sed -E 's/ +/ /g' | awk '{print $1": "$NF}'

mkdir -p "$WORK/data/small" "$WORK/data/medium"
/usr/bin/python3 bench/make_bench_corpus.py small "$WORK/data/small" 1000
/usr/bin/python3 -c "
import pickle
data = pickle.dumps([i * 7919 % 100003 for i in range(300000)], protocol=2)
for i in range(100):
    open('$WORK/data/medium/m%03d.pkl' % i, 'wb').write(data)
"

# A CA and a certificate for 127.0.0.1, for the TLS runs.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -keyout "$WORK/ca.key" -out "$WORK/ca.pem" \
  -subj /CN=bench-ca -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$WORK/server.key" -out "$WORK/server.csr" \
  -subj /CN=coordinator 2>/dev/null
echo "subjectAltName=IP:127.0.0.1" > "$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" \
  -CAcreateserial -days 1 -out "$WORK/server.pem" -extfile "$WORK/server.ext" 2>/dev/null

run_cluster() {  # run_cluster WORKERS DIR tls|insecure -> best wall time of the CLI job
  local workers=$1 dir=$2 mode=$3
  rm -rf "$WORK"/c.db*
  local coordinator_transport=(--insecure) client_transport=(--insecure)
  if [ "$mode" = tls ]; then
    coordinator_transport=(--tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key")
    client_transport=(--tls-ca "$WORK/ca.pem")
  fi
  "$BUILD/coordinator/gauntlet-coordinator" tokens create --role worker bench --db "$WORK/c.db" \
    > "$WORK/worker.token" 2>/dev/null
  "$BUILD/coordinator/gauntlet-coordinator" tokens create --role tenant bench --db "$WORK/c.db" \
    > "$WORK/tenant.token" 2>/dev/null
  "$BUILD/coordinator/gauntlet-coordinator" --listen 127.0.0.1:0 --metrics-listen 127.0.0.1:0 \
    --db "$WORK/c.db" --allow-root "$WORK/data" --no-verdict-cache --audit-log "$WORK/audit.log" \
    "${coordinator_transport[@]}" > "$WORK/c.log" 2>&1 &
  PIDS+=($!)
  local coordinator=$! port; port=$(wait_for_line "$WORK/c.log" "listening on")
  local worker_pids=()
  for i in $(seq "$workers"); do
    "$BUILD/worker/gauntlet-worker" --coordinator "127.0.0.1:$port" --metrics-listen 127.0.0.1:0 \
      --slots 1 --token-file "$WORK/worker.token" "${client_transport[@]}" > "$WORK/w$i.log" 2>&1 &
    PIDS+=($!); worker_pids+=($!)
  done
  for i in $(seq "$workers"); do wait_for_line "$WORK/w$i.log" "metrics on" > /dev/null; done
  best_of 3 "$GAUNTLET" scan --coordinator "127.0.0.1:$port" --no-progress --format json \
    --token-file "$WORK/tenant.token" "${client_transport[@]}" --output "$WORK/r.json" "$dir"
  kill -9 "${worker_pids[@]}" "$coordinator" 2>/dev/null || true
  wait "${worker_pids[@]}" "$coordinator" 2>/dev/null || true
}

for corpus in small medium; do
  dir="$WORK/data/$corpus"
  n=$(find "$dir" -type f | wc -l)
  echo "== 2. End to end: $corpus corpus, $n files =="
  local_in=$(best_of 3 "$GAUNTLET" scan --no-progress --format json --output "$WORK/r.json" "$dir")
  local_iso=$(best_of 3 "$GAUNTLET" scan --isolate --no-progress --format json --output "$WORK/r.json" "$dir")
  printf "single process, in-process parsers: %.3f s, %.0f files/s\n" "$local_in" "$(calc "$n / $local_in")"
  printf "single process, --isolate (sandbox): %.3f s, %.0f files/s\n" "$local_iso" "$(calc "$n / $local_iso")"
  for workers in 1 2 4; do
    t=$(run_cluster "$workers" "$dir" tls)
    plain=$(run_cluster "$workers" "$dir" insecure)
    printf "cluster, %d worker(s), TLS: %.3f s, %.0f files/s, %.2fx the --isolate run, %+.2f ms/file\n" \
      "$workers" "$t" "$(calc "$n / $t")" "$(calc "$t / $local_iso")" \
      "$(calc "($t - $local_iso) * 1000 / $n")"
    printf "cluster, %d worker(s), plaintext: %.3f s; TLS costs %.2fx (%+.3f ms/file)\n" \
      "$workers" "$plain" "$(calc "$t / $plain")" "$(calc "($t - $plain) * 1000 / $n")"
  done
done
