#!/usr/bin/env bash
# Installs what building and running tlswatch needs on a fresh Debian machine with rustup and
# Node.js: the wasm32 target and the npm packages (ECharts, wasm-opt from binaryen 132,
# playwright-core). Nothing else: `cargo xtask build` uses the wasm-bindgen library at the
# version in Cargo.lock, so no CLI has to be installed and kept in step.
# Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown >/dev/null

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -f public/echarts.min.js ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
# The ECharts bundle follows its entry file (a checkout that pulled a change to it).
if [ scripts/echarts-entry.mjs -nt public/echarts.min.js ]; then
  npm run --silent postinstall
fi
