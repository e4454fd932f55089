#!/usr/bin/env bash
# The main job: the whole poisoning lab on the embedded local cluster.
# Installs and builds, then `gauntlet lab run`: make the dataset, train the
# base model (cached by content) and a clean and a poisoned LoRA adapter,
# show that `gauntlet scan` passes every file, and run the A/B behavioral
# test twice (clean vs poisoned: BACKDOOR; base vs clean: CLEAN). Leaves
# gauntlet-lab/report.md and report.json behind.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
scripts/build.sh
LAB=${LAB_DIR:-gauntlet-lab}
build/cli/gauntlet lab run --workdir "$LAB" "$@"
