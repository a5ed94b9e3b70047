#!/usr/bin/env bash
# Installs what building and running tlswatch needs on a fresh Debian machine with rustup:
# the wasm32 target, cargo-leptos 0.3.10, the wasm-bindgen CLI at the exact version in
# Cargo.lock, and the npm packages (ECharts, wasm-opt from binaryen 132, playwright-core).
# Idempotent: tools already at the right version are kept.
set -euo pipefail
cd "$(dirname "$0")/.."

rustup target add wasm32-unknown-unknown >/dev/null

if ! cargo leptos --version 2>/dev/null | grep -qx "cargo-leptos 0.3.10"; then
  echo "installing cargo-leptos 0.3.10 (about 15 minutes on 2 cores)…"
  cargo install cargo-leptos --version 0.3.10 --locked --features no_downloads
fi

WBG=$(awk '/^name = "wasm-bindgen"$/{getline; gsub(/"/,"",$3); print $3}' Cargo.lock)
if ! wasm-bindgen --version 2>/dev/null | grep -qx "wasm-bindgen $WBG"; then
  echo "installing wasm-bindgen-cli $WBG…"
  # Not --locked: its lockfile pins a webpki-roots version the registry does not serve.
  cargo install wasm-bindgen-cli --version "=$WBG"
fi

if [ ! -x node_modules/.bin/wasm-opt ] || [ ! -f public/echarts.min.js ] || [ package.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund
fi
