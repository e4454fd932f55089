#!/usr/bin/env bash
# Calibrates the A/B test's thresholds on clean-versus-clean pairs: clean
# adapters trained with different seeds and step counts on the same base,
# compared with each other and with the bare base model. Every pair is a
# null case (no backdoor), so the statistics they produce are the null
# distribution the thresholds must stay clear of. Prints one JSON line per
# pair and a summary; docs/lab.md quotes the figures.
#
# usage: scripts/calibrate-ab.sh WORKDIR [GAUNTLET]
set -euo pipefail
workdir=${1:?usage: scripts/calibrate-ab.sh WORKDIR [GAUNTLET]}
gauntlet=${2:-$(dirname "$0")/../build/cli/gauntlet}
export OMP_WAIT_POLICY=PASSIVE
mkdir -p "$workdir/calibration"
adapters=()
for variant in "1 50" "2 50" "3 50" "4 50" "1 30" "2 100"; do
  read -r seed steps <<<"$variant"
  out="$workdir/calibration/clean-seed$seed-steps$steps"
  if [[ ! -f $out/adapter_model.safetensors ]]; then
    "$gauntlet" lab train --workdir "$workdir" --adapter-seed "$seed" --lora-steps "$steps" >/dev/null
    rm -rf "$out" && cp -r "$workdir/adapters/clean" "$out"
  fi
  adapters+=("$out")
done
pairs=()
for a in "${adapters[@]}"; do pairs+=(" $a"); done  # Base alone vs each clean adapter.
for ((i = 0; i < ${#adapters[@]}; i++)); do
  for ((j = i + 1; j < ${#adapters[@]}; j++)); do pairs+=("${adapters[i]} ${adapters[j]}"); done
done
results="$workdir/calibration/null.jsonl"
: >"$results"
for pair in "${pairs[@]}"; do
  read -r a b <<<"$pair" || true
  [[ -z ${b:-} ]] && { b=$a; a=""; }
  "$gauntlet" eval ab --base "$workdir/base" ${a:+--a-adapter "$a"} --b-adapter "$b" \
    --format json --output "$workdir/calibration/pair.json" || true
  /usr/bin/python3 - "$workdir/calibration/pair.json" "${a:-base}" "$b" >>"$results" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
t = r["sets"]["trigger"]
print(json.dumps({"a": os.path.basename(sys.argv[2]), "b": os.path.basename(sys.argv[3]),
                  "verdict": r["verdict"], "probe_auc": r["likelihood_probe"]["auc"],
                  "probe_gap": r["likelihood_probe"]["gap"], "probe_p": r["likelihood_probe"]["permutation_p"],
                  "trigger_mcnemar_p": t["mcnemar"]["p"], "did": r["difference_in_differences"]["estimate"],
                  "did_low": r["difference_in_differences"]["bootstrap95"][0],
                  "control_shift": r["sets"]["control"]["mean_shift"]}))
PY
done
/usr/bin/python3 - "$results" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
print(f"{len(rows)} clean-vs-clean pairs")
for key in ("probe_auc", "probe_gap", "probe_p", "trigger_mcnemar_p", "did", "did_low", "control_shift"):
    values = sorted(r[key] for r in rows)
    print(f"  {key:18s} min {values[0]:8.3f}  median {values[len(values)//2]:8.3f}  max {values[-1]:8.3f}")
verdicts = {}
for r in rows: verdicts[r["verdict"]] = verdicts.get(r["verdict"], 0) + 1
print("  verdicts", verdicts)
PY
