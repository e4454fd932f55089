#!/usr/bin/env bash
# The test command: installs what it needs, builds, and runs every test
# (unit, CLI and real-library integration tests).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
scripts/build.sh
cd "${BUILD_DIR:-build}"
ctest --output-on-failure --timeout 600 -j "$(nproc)"
