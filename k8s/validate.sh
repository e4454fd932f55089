#!/usr/bin/env bash
# Offline schema check of the Kubernetes manifests (a ctest, label k8s).
# Installs the npm schema packages once into k8s/node_modules (ignored by git).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/@kubernetes-models/keda ]; then
  npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
fi
node validate.mjs .
