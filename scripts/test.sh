#!/usr/bin/env bash
# The test command: installs what it needs, builds, and runs every test
# (unit, CLI and real-library integration tests), then runs them all again
# in a build with AddressSanitizer and UndefinedBehaviorSanitizer.
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
scripts/build.sh
(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 -j "$(nproc)")

echo "== Again under ASan + UBSan =="
BUILD_DIR=build-sanitize BUILD_TYPE=Debug scripts/build.sh -DGAUNTLET_SANITIZE=ON -DGAUNTLET_BUILD_BENCH=OFF \
  -DGAUNTLET_BUILD_LAB=OFF
(cd build-sanitize &&
  LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" ctest --output-on-failure --timeout 900 -j "$(nproc)")
