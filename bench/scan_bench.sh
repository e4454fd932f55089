#!/usr/bin/env bash
# End-to-end scan benchmarks, printed as figures and ratios:
#   1. files/s for one `gauntlet scan` over 1,000 small real torch.save and
#      pickle files (target: >= 10,000 files/s on 2 cores);
#   2. scan time of a multi-GB checkpoint against `cat FILE > /dev/null` and
#      against a tiny checkpoint of the same layout (target: independent of
#      tensor size);
#   3. start-up time of the CLI (`gauntlet version`);
#   4. files/s over a mixed-format directory (torch, pickle, joblib, numpy,
#      ONNX, Keras, text; benign and malicious), 20 copies of the fixture set;
#   5. peak memory (max RSS) scanning a tar archive of ARCHIVE_GIB GiB holding
#      a checkpoint of that size (target: bounded, far below the archive).
# Usage: bench/scan_bench.sh [BIG_GIB] [ARCHIVE_GIB]   (defaults 2 and 5)
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
GAUNTLET=${GAUNTLET:-build/cli/gauntlet}
scripts/install-deps.sh >/dev/null  # /usr/bin/time, python3-torch
[ -x "$GAUNTLET" ] || scripts/build.sh
BIG_GIB=${1:-2}
ARCHIVE_GIB=${2:-5}
WORK=$(mktemp -d /tmp/gauntlet-bench.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

source bench/timing.sh

echo "== 1. Small-file directory =="
/usr/bin/python3 bench/make_bench_corpus.py small "$WORK/small" 1000
t=$(best_of 5 "$GAUNTLET" scan --no-progress --format json --output "$WORK/r.json" "$WORK/small")
printf "1000 files in %.4f s: %.0f files/s (target 10000)\n" "$t" "$(calc "1000 / $t")"
t1=$(best_of 5 "$GAUNTLET" scan --no-progress --jobs 1 --format json --output "$WORK/r.json" "$WORK/small")
printf "with --jobs 1: %.4f s (%.2fx speed-up from 2 workers)\n" "$t1" "$(calc "$t1 / $t")"

echo "== 2. Large checkpoint =="
/usr/bin/python3 bench/make_bench_corpus.py big "$WORK/big.pt" "$BIG_GIB"
/usr/bin/python3 bench/make_bench_corpus.py big "$WORK/tiny.pt" 0.001
size=$(stat -c %s "$WORK/big.pt")
cold=""
if sync && echo 3 > /proc/sys/vm/drop_caches 2>/dev/null; then
  t0=$(now); "$GAUNTLET" scan --no-progress "$WORK/big.pt" >/dev/null; t1=$(now)
  cold=$(calc "$t1 - $t0")
  echo 3 > /proc/sys/vm/drop_caches
  t0=$(now); cat "$WORK/big.pt" >/dev/null; t1=$(now)
  cat_cold=$(calc "$t1 - $t0")
  printf "cold cache: scan %.4f s, cat %.4f s (cat/scan = %.0fx)\n" "$cold" "$cat_cold" \
    "$(calc "$cat_cold / $cold")"
else
  echo "cold cache: cannot drop the page cache here (not permitted); warm figures only"
fi
scan_big=$(best_of 5 "$GAUNTLET" scan --no-progress "$WORK/big.pt")
scan_tiny=$(best_of 5 "$GAUNTLET" scan --no-progress "$WORK/tiny.pt")
cat_big=$(best_of 3 cat "$WORK/big.pt")
printf "warm cache: %.2f GiB checkpoint scans in %.4f s; cat takes %.4f s (%.0fx slower)\n" \
  "$(calc "$size / 1073741824")" "$scan_big" "$cat_big" "$(calc "$cat_big / $scan_big")"
printf "tiny checkpoint of the same layout: %.4f s (big/tiny = %.2f)\n" "$scan_tiny" \
  "$(calc "$scan_big / $scan_tiny")"

echo "== 3. Start-up =="
t=$(best_of 10 "$GAUNTLET" version)
printf "gauntlet version: %.4f s\n" "$t"

echo "== 4. Mixed-format directory =="
/usr/bin/python3 tests/fixtures/make_real_fixtures.py "$WORK/fixtures" >/dev/null
for i in $(seq 20); do cp -r "$WORK/fixtures" "$WORK/mixed/$i" 2>/dev/null || { mkdir -p "$WORK/mixed"; cp -r "$WORK/fixtures" "$WORK/mixed/$i"; }; done
count=$(find "$WORK/mixed" -type f | wc -l)
t=$(best_of 5 "$GAUNTLET" scan --no-progress --format json --output "$WORK/r.json" "$WORK/mixed")
printf "%d mixed files in %.4f s: %.0f files/s\n" "$count" "$t" "$(calc "$count / $t")"

echo "== 5. Memory on a large archive =="
rm -rf "$WORK/small" "$WORK/mixed"
/usr/bin/python3 bench/make_bench_corpus.py big "$WORK/huge.pt" "$ARCHIVE_GIB"
tar -C "$WORK" -cf "$WORK/huge.tar" huge.pt && rm "$WORK/huge.pt"
tar_size=$(stat -c %s "$WORK/huge.tar")
rss=$( { /usr/bin/time -f "%M" "$GAUNTLET" scan --no-progress "$WORK/huge.tar" >/dev/null; } 2>&1 | tail -1)
printf "%.2f GiB tar: peak RSS %.1f MiB (%.4f%% of the archive)\n" "$(calc "$tar_size / 1073741824")" \
  "$(calc "$rss / 1024")" "$(calc "100 * $rss * 1024 / $tar_size")"
