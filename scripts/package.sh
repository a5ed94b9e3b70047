#!/usr/bin/env bash
# Builds the Debian package from the release binary (`cargo xtask build` first) with cargo-deb,
# and, with --check, installs it on this machine in a clean state and checks that the installed
# binary serves /healthz as the tlswatch user with the packaged settings, then purges it.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! cargo deb --version 2>/dev/null | grep -q "^cargo-deb 3\."; then
  echo "installing cargo-deb 3 (about 3 minutes on 2 cores)…"
  cargo install cargo-deb --version "^3" --locked
fi
[ -x target/release/tlswatch ] || { echo "target/release/tlswatch is missing: run cargo xtask build" >&2; exit 1; }
cargo deb -p server --no-build --no-strip
deb=$(ls -t target/debian/tlswatch_*.deb | head -1)
echo "built $deb"

[ "${1:-}" = "--check" ] || exit 0
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
# A clean state: nothing of an earlier install left.
$SUDO dpkg --purge tlswatch >/dev/null 2>&1 || true
$SUDO dpkg -i "$deb"
trap '$SUDO dpkg --purge tlswatch >/dev/null 2>&1 || true' EXIT
test -x /usr/bin/tlswatch
getent passwd tlswatch >/dev/null
test -f /lib/systemd/system/tlswatch.service
[ "$(stat -c %U /var/lib/tlswatch)" = tlswatch ]
if command -v systemd-analyze >/dev/null; then
  systemd-analyze verify /lib/systemd/system/tlswatch.service
fi
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
# As systemd would start it: the tlswatch user, the packaged settings, the state directory
# as working directory; only the listen address differs.
set -a; . /etc/tlswatch/tlswatch.env; set +a
export TLSWATCH_LISTEN="127.0.0.1:$port" TLSWATCH_CHECK_INTERVAL_MINUTES=0
as_user=(setpriv --reuid=tlswatch --regid=tlswatch --init-groups)
[ -z "$SUDO" ] || as_user=(sudo -E "${as_user[@]}")
( cd /var/lib/tlswatch && exec "${as_user[@]}" /usr/bin/tlswatch serve ) &
pid=$!
for _ in $(seq 1 100); do
  if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then break; fi
  sleep 0.2
done
curl -fsS "http://127.0.0.1:$port/healthz"
curl -fsS -o /dev/null -w "sign-in page %{http_code}\n" "http://127.0.0.1:$port/login"
kill "$pid"; wait "$pid" 2>/dev/null || true
test -f /var/lib/tlswatch/tlswatch.db
echo "package check passed: $deb"
