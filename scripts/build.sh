#!/usr/bin/env bash
# Installs dependencies (idempotent) and builds Gauntlet into build/.
# Usage: scripts/build.sh [extra cmake args...]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
BUILD_DIR=${BUILD_DIR:-build}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}" "$@" >/dev/null
# Two cores and ~1.4 GB per torch translation unit later on: let Ninja decide.
cmake --build "$BUILD_DIR"
