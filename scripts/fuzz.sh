#!/usr/bin/env bash
# Runs every cargo-fuzz target for SECONDS each (default 600). Crashes land in
# fuzz/artifacts/<target>/; turn each into a regression test before fixing it.
# cargo-fuzz needs nightly flags; RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${1:-600}"
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
export RUSTC_BOOTSTRAP=1
for target in $(cargo fuzz list); do
  echo "== fuzzing $target for ${SECONDS_EACH}s"
  mkdir -p "fuzz/corpus/$target"
  cp -n server/tests/fixtures/reports/*.json "fuzz/corpus/$target/" 2>/dev/null || true
  # One input's budget must fit in 256 MB whatever the input (issue 12): the whole-input
  # target runs under that RSS limit; the others keep libFuzzer's headroom.
  rss=2048; [ "$target" = whole_input ] && rss=256
  cargo fuzz run "$target" --sanitizer none -- -max_total_time="$SECONDS_EACH" -rss_limit_mb="$rss" -max_len=262144
done
