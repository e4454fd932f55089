#!/usr/bin/env bash
# Builds the model core on its own (model_core/CMakeLists.txt) against
# whatever libtorch this machine has: Debian's, or a PyTorch wheel's (the
# CUDA one on a GPU machine), found through python3's torch when
# Torch_DIR/CMAKE_PREFIX_PATH are not set. Needs a C++20 compiler, CMake and
# Ninja (or Make); nlohmann/json.hpp from its package or NLOHMANN_JSON_INCLUDE_DIR.
# Builds parity_check and model_core_bench into BUILD_DIR.
# Usage: scripts/build-model-core.sh [BUILD_DIR] [extra cmake args...]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-model-core}
shift || true
args=(-DCMAKE_BUILD_TYPE="${BUILD_TYPE:-Release}")
if [ -z "${Torch_DIR:-}${CMAKE_PREFIX_PATH:-}" ] && [ ! -d /usr/share/cmake/Torch ] &&
   [ ! -d /usr/lib/x86_64-linux-gnu/cmake/Torch ]; then
  prefix=$(python3 -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null) || {
    echo "build-model-core.sh: no libtorch found: set Torch_DIR or install torch for python3" >&2
    exit 2
  }
  args+=(-DCMAKE_PREFIX_PATH="$prefix")
fi
[ -n "${NLOHMANN_JSON_INCLUDE_DIR:-}" ] && args+=(-DNLOHMANN_JSON_INCLUDE_DIR="$NLOHMANN_JSON_INCLUDE_DIR")
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
cmake -S "$ROOT/model_core" -B "$BUILD" "${generator[@]}" "${args[@]}" "$@" >/dev/null
cmake --build "$BUILD" --parallel "$(nproc)"
