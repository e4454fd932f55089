#!/usr/bin/env bash
# The test command: installs what it needs, builds, and runs every test
# (unit, CLI and real-library integration tests), then runs them all again
# in a build with AddressSanitizer and UndefinedBehaviorSanitizer, then runs
# every libFuzzer target for a fixed time (FUZZ_SECONDS each, default 10).
set -euo pipefail
cd "$(dirname "$0")/.."
export OMP_WAIT_POLICY=PASSIVE
scripts/build.sh

# The libFuzzer build (clang) needs nothing the tests make, so it compiles
# at the lowest priority while they run: it takes only the CPU their
# process start-ups, waits and single-threaded steps leave idle, and is
# mostly done by the time the fuzz stage needs it. Its own session, so
# that an early exit stops all of it. A new session is also a new scheduler
# autogroup, which the kernel shares the CPU with as one unit whatever the
# nice value of the processes inside: the group itself must be niced, or the
# "background" build takes half the machine from the tests (measured beside
# a build: two nice-19 loops in a session of their own got half the CPU;
# with the group niced, 4% of what the build's processes got).
mkdir -p build-fuzz
setsid bash -c 'echo 19 >/proc/self/autogroup 2>/dev/null; exec nice -n 19 "$@"' fuzz-build \
  env BUILD_DIR=build-fuzz BUILD_TYPE=RelWithDebInfo CC=clang CXX=clang++ \
  scripts/build.sh -DGAUNTLET_FUZZ=ON -DGAUNTLET_BUILD_LAB=OFF -DGAUNTLET_BUILD_BENCH=OFF \
  -DGAUNTLET_BUILD_TESTS=OFF >build-fuzz/build.log 2>&1 &
fuzz_build=$!
trap 'kill -- -"$fuzz_build" 2>/dev/null || true' EXIT

(cd "${BUILD_DIR:-build}" && ctest --output-on-failure --timeout 600 -j "$(nproc)")

echo "== Again under ASan + UBSan (${SECONDS} s so far) =="
BUILD_DIR=build-sanitize BUILD_TYPE=Debug scripts/build.sh -DGAUNTLET_SANITIZE=ON -DGAUNTLET_BUILD_BENCH=OFF \
  -DGAUNTLET_BUILD_LAB=OFF
(cd build-sanitize &&
  LSAN_OPTIONS="suppressions=$PWD/../tests/lsan.supp" ctest --output-on-failure --timeout 900 -j "$(nproc)")

echo "== libFuzzer targets, ${FUZZ_SECONDS:-10} s each (${SECONDS} s so far) =="
if ! wait "$fuzz_build"; then
  cat build-fuzz/build.log
  exit 1
fi
echo "(the fuzz build finished in the background: $(tail -1 build-fuzz/build.log))"
# Seeded from the files the main build's tests wrote (bulk benign, real fixtures).
/usr/bin/python3 tests/fuzz/run_fuzzers.py build-fuzz "${FUZZ_SECONDS:-10}" \
  "${BUILD_DIR:-build}/tests/bulk_benign" "${BUILD_DIR:-build}/tests/real_fixtures"
echo "== All passed in ${SECONDS} s =="
