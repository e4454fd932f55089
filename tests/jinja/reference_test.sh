#!/usr/bin/env bash
# Chat templates rendered by Gauntlet and by @huggingface/jinja, compared (a
# ctest, label reference). Installs the pinned npm package once into
# tests/jinja/node_modules (ignored by git).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/@huggingface/jinja ]; then
  npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
fi
node reference_test.mjs "$1"
