#!/usr/bin/env bash
# Runs every benchmark and prints one table: machine, ingest (3 runs: median and spread, with the
# parse-only floor and parsedmarc in the same run), HTTPS receiver and signed-in uploads: throughput and p99, load
# (200 uploaders + 50 readers), dashboard p95 at N reports on SQLite and PostgreSQL (default
# 10 million: 1,000 domains, about an hour of seeding on 2 cores), the checker
# (one domain, 1,000 domains), WASM sizes, the overview's first and repeat load in Chromium, idle memory and memory under a gzip
# bomb, the costliest inputs prepared on an async worker. Not part of the test run. Usage: scripts/bench.sh [DASHBOARD_REPORTS] [LOAD_SECONDS]
set -euo pipefail
cd "$(dirname "$0")/.."
N="${1:-10000000}"
LOAD="${2:-60}"
PG="${TLSWATCH_BENCH_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}"
B=target/release/tlswatch-bench
out=$(mktemp)

echo "== building (release)"
cargo xtask build >/dev/null
RUSTFLAGS="--cfg erase_components" cargo build --release -p server --bin tlswatch-bench --features lab >/dev/null

{
  echo "machine: $(nproc) cores, $(awk '/MemTotal/{printf "%.0f GiB", $2/1048576}' /proc/meminfo), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(uname -sr), $(date -u +%F)"
  echo
  echo "## ingest 10,000 report mails into SQLite (3 runs)"
  for i in 1 2 3; do "$B" ingest 10000 | tee -a "$out.ingest"; done
  awk '/^ingest into SQLite/{for(i=1;i<=NF;i++) if($i=="mails/s") print $(i-1)}' "$out.ingest" | sort -n |
    awk '{v[NR]=$1} END {if (NR) printf "ingest mails/s: median %s, min %s, max %s\n", v[int((NR+1)/2)], v[1], v[NR]}'
  echo
  echo "## HTTPS receiver"
  "$B" receiver 20000 64
  echo
  echo "## uploads by signed-in editors (POST /api/upload)"
  "$B" uploads 20000 64
  echo
  echo "## load"
  "$B" load "$LOAD"
  echo
  echo "## dashboard at $N reports"
  "$B" dashboard "$N"
  db="tlswatch_bench_$$"
  psql "$PG" -qAtc "create database $db" >/dev/null
  "$B" dashboard "$N" "${PG%/*}/$db" || true
  psql "$PG" -qAtc "drop database $db with (force)" >/dev/null
  echo
  echo "## checker (loopback lab)"
  "$B" check 1000 32
  echo
  echo "## sizes"
  "$B" sizes
  echo
  echo "## first load of the overview in Chromium (bytes as Chromium counts them; time to the drawn chart)"
  node end2end/first-load.mjs
  echo
  echo "## memory"
  "$B" memory
  "$B" bomb
  echo
  echo "## inputs prepared on an async worker: the costliest ones its bounds let through"
  "$B" quick 1000
  echo
  echo "## one budget per input: the 14 MB many-part mail through tlswatch import"
  "$B" manyparts
} 2>&1 | tee "$out"
echo
echo "(full output: $out)"
