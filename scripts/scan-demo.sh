#!/usr/bin/env bash
# The scan demo: generate a sample model
# directory with real benign checkpoints and real malicious ones, scan it,
# and leave text, JSON and SARIF reports in gauntlet-demo/.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
scripts/build.sh
DEMO=${DEMO_DIR:-gauntlet-demo}
rm -rf "$DEMO/samples"
mkdir -p "$DEMO"
echo "Generating samples with torch, numpy, scikit-learn and joblib..."
/usr/bin/python3 tests/fixtures/make_real_fixtures.py "$DEMO/samples"
GAUNTLET=build/cli/gauntlet
set +e
"$GAUNTLET" scan "$DEMO/samples" --no-progress | tee "$DEMO/report.txt"
status=${PIPESTATUS[0]}
"$GAUNTLET" scan "$DEMO/samples" --format json --output "$DEMO/report.json" 2>/dev/null
"$GAUNTLET" scan "$DEMO/samples" --format sarif --output "$DEMO/report.sarif" 2>/dev/null
set -e
echo
echo "Reports: $DEMO/report.txt, $DEMO/report.json, $DEMO/report.sarif"
# Exit 1 means "findings at or above the threshold": the expected outcome
# here, since half the samples are malicious. Anything else is a failure.
if [ "$status" -ne 1 ]; then
  echo "demo: expected the malicious samples to be flagged (exit 1), got exit $status" >&2
  exit 1
fi
/usr/bin/python3 - "$DEMO/report.json" "$DEMO/samples/expected.json" <<'PY'
import json, sys
got = {f["path"]: f["verdict"] for f in json.load(open(sys.argv[1]))["files"]}
want = {path: e["verdict"] for path, e in json.load(open(sys.argv[2])).items()}
wrong = [p for p in want if got.get(p) != want[p]]
counts = {v: list(want.values()).count(v) for v in sorted(set(want.values()))}
print(f"demo: every sample got its expected verdict: {counts}" if not wrong
      else f"demo: unexpected verdicts for {wrong}")
sys.exit(1 if wrong else 0)
PY
