#!/usr/bin/env bash
# Installs what the tests need and runs every test: unit and integration tests (SQLite and the
# PostgreSQL server at 127.0.0.1:5432, required), then the end-to-end tests in Chromium.
#
# Reuses a build directory outside the clone when TLSWATCH_TARGET_CACHE is set (CI does), so a
# fresh clone does not rebuild every dependency.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ -n "${TLSWATCH_TARGET_CACHE:-}" ] && [ ! -e target ]; then
  mkdir -p "$TLSWATCH_TARGET_CACHE"
  ln -s "$TLSWATCH_TARGET_CACHE" target
fi

scripts/bootstrap.sh

# Debian packages for the tests: Chromium (end-to-end), Dovecot (IMAP tests), Pebble (the
# ACME test server, for hosted policies' certificates).
need=()
command -v chromium >/dev/null || need+=(chromium)
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
[ -x /usr/bin/pebble ] || need+=(pebble)
command -v psql >/dev/null || need+=(postgresql-client)
if [ ${#need[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}"
fi

# The PostgreSQL store tests must run here, not be skipped.
export TLSWATCH_REQUIRE_POSTGRES=1
export TLSWATCH_REQUIRE_DOVECOT=1
export TLSWATCH_REQUIRE_PEBBLE=1
export TLSWATCH_REQUIRE_OIDC=1
export TLSWATCH_TEST_POSTGRES_URL="${TLSWATCH_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
if ! psql "$TLSWATCH_TEST_POSTGRES_URL" -qAtc 'select 1' >/dev/null 2>&1; then
  echo "PostgreSQL at $TLSWATCH_TEST_POSTGRES_URL is not answering; trying to start the local cluster…"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
  sleep 2
fi

# A reused build directory grows by a set of test executables (about 1 GB each) whenever a
# dependency changes: those older than this run are removed after the tests, and CI builds
# without incremental data (a fresh clone gains little from it, and it takes gigabytes).
marker="$(mktemp)"
if [ -n "${TLSWATCH_TARGET_CACHE:-}" ]; then
  export CARGO_INCREMENTAL=0
fi

echo "== cargo fmt / clippy"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

echo "== unit and integration tests (SQLite + PostgreSQL)"
# nextest runs each test in its own process and ends a hung test after 5 minutes with a
# message (.config/nextest.toml), so a hang fails CI instead of stalling it.
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace
else
  cargo test --workspace
fi

if [ -n "${TLSWATCH_TARGET_CACHE:-}" ] && [ -d target/debug/deps ]; then
  # Test executables this run did not build are stale (proc-macro libraries have a dot).
  find target/debug/deps -maxdepth 1 -type f -executable ! -name '*.*' ! -newer "$marker" -delete || true
fi
rm -f "$marker"

echo "== release build (the site, the server that embeds it, and the bench binary whose lab the end-to-end tests use)"
cargo xtask build
# Same flags as the server build just above (xtask: --cfg erase_components), so its
# dependencies are reused.
RUSTFLAGS="--cfg erase_components" cargo build --release -p server --bin tlswatch-bench --features lab

echo "== end-to-end tests in Chromium"
TLSWATCH_BIN="$PWD/target/release/tlswatch" node --test --test-concurrency=1 end2end/tests/

echo "== the Debian package: built, installed in a clean state, serving /healthz"
scripts/package.sh --check

echo "== all tests passed"
