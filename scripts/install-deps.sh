#!/usr/bin/env bash
# Installs every Debian 12 package Gauntlet needs to build, test and run.
# Idempotent: packages already present are skipped, and apt is only touched
# when something is missing. Safe to run on every build.
set -euo pipefail

PACKAGES=(
  # Toolchain
  build-essential cmake ninja-build pkg-config git clang-format
  # Libraries linked by the C++ code
  libabsl-dev zlib1g-dev libbz2-dev liblzma-dev libzstd-dev
  nlohmann-json3-dev libtomlplusplus-dev libhdf5-dev libarchive-dev libyara-dev
  # YAML configs (Hydra/OmegaConf _target_ instantiation in .nemo and model folders)
  libyaml-cpp-dev
  # Unicode classes and normalization for Hugging Face tokenizers (hf/bpe.cc)
  libicu-dev
  # Command lines: flags, subcommands, --help (header-only)
  libcli11-dev
  # The cluster: gRPC services, durable job store, metrics, parser sandbox
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libsqlite3-dev prometheus-cpp-dev libseccomp-dev libssl-dev
  # promtool validates the /metrics exposition in the tests; python3-grpcio and
  # python3-protobuf play the attacker's raw gRPC client in the security tests,
  # which make their TLS certificates with openssl
  prometheus python3-grpcio python3-protobuf openssl
  # The manifests' and dashboard's tests read YAML (tests/k8s, tests/monitoring)
  python3-yaml
  # The poisoning lab's model (libtorch, CPU build)
  libtorch-dev
  # Tests and benchmarks; clang with libFuzzer for the fuzz targets
  googletest libgtest-dev libgmock-dev libbenchmark-dev time clang libclang-rt-14-dev
  # Real-library fixtures (torch.save, numpy, sklearn, joblib) for the tests,
  # always through Debian's /usr/bin/python3.
  python3 python3-torch python3-numpy python3-h5py python3-onnx
  python3-sklearn python3-joblib python3-sentencepiece python3-msgpack
  # Jinja2, the renderer transformers' apply_chat_template uses: the
  # reference the chat-template tests compare Gauntlet's renderer with.
  python3-jinja2
  # Without OpenBLAS torch falls back to a reference BLAS that is ~15x slower.
  libopenblas0-pthread
)

# Node.js validates the Kubernetes manifests offline (k8s/validate.sh); a
# newer Node already on the machine is fine, else Debian's is installed.
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  PACKAGES+=(nodejs npm)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
