#!/usr/bin/env bash
# The model core on its own, as a GPU machine with only a PyTorch builds it:
#   1. include_check.py (and its self-test): nothing outside the core,
#      libtorch, nlohmann-json and model_core/compat is included;
#   2. scripts/build-model-core.sh: the standalone build (compat's Status, no
#      Abseil, protobuf or gRPC) against this machine's libtorch;
#   3. model_core_bench: the A/B measurement end to end, on CUDA where this
#      libtorch and machine have it (else the CPU), printing prompts/s and
#      tokens/s;
#   4. parity with transformers and peft (tests/parity/make_reference.py),
#      on the CPU and CUDA, where $PYTHON imports them; elsewhere it says
#      skipped (CI has neither).
# Usage: tests/model_core/standalone_test.sh [BUILD_DIR]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${1:-$ROOT/build-model-core}
PYTHON=${PYTHON:-python3}
export OMP_WAIT_POLICY=PASSIVE

echo "== 1. includes =="
"$PYTHON" "$ROOT/tests/model_core/include_check.py" --self-test
"$PYTHON" "$ROOT/tests/model_core/include_check.py"

echo "== 2. standalone build =="
"$ROOT/scripts/build-model-core.sh" "$BUILD"

echo "== 3. A/B measurement =="
"$BUILD/model_core_bench" --device=auto --prompts="${BENCH_PROMPTS:-16}" --rounds="${BENCH_ROUNDS:-1}"

echo "== 4. parity with transformers and peft =="
status=0
"$PYTHON" "$ROOT/tests/parity/make_reference.py" "$BUILD/parity" || status=$?
case $status in
  0) "$BUILD/parity_check" "$BUILD/parity" ;;
  77) echo "parity: skipped ($PYTHON cannot import transformers and peft)" ;;
  *) exit "$status" ;;
esac
