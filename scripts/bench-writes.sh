#!/usr/bin/env bash
# Single writes under concurrency (issue 15): CreateCase from N concurrent
# clients, on PostgreSQL (a database of its own, dropped afterwards) and on
# embedded SQLite:
#   - builds the release `csm` and starts the suite (`csm dev`, demo data)
#     pinned to CPU 0 (PostgreSQL itself is not pinned);
#   - drives two fixed CreateCase requests (the development administrator
#     creating a case for Acme France; no request_id, so every request creates
#     a case) with h2load pinned to CPU 1, after checking that each succeeds:
#     `create` presents no consistency token, so its decision reads the
#     creator's roles and teams through from the peers (a write never decides
#     on a cache it presents no token for); `create-token` presents
#     at_least_as_fresh "identity:1", so the context comes from the cache;
#   - prints cases/s, p50 and p99 per backend and concurrency (failed: h2load's
#     failures plus the server's ERROR lines).
#
# Usage: scripts/bench-writes.sh [seconds-per-run, default 10]
# Env:   CSM_BENCH_BACKENDS="postgres sqlite"  CSM_BENCH_CONCURRENCY="1 32"
#        CSM_BENCH_POSTGRES_URL (default $CSM_TEST_POSTGRES_URL, else
#        postgres://postgres@127.0.0.1:5432/test: the server the database is made on)
#        CSM_BENCH_BINARY=<csm> (measure another build)  CSM_BENCH_KEEP=1 (keep the temp dirs)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${1:-10}"
backends="${CSM_BENCH_BACKENDS:-postgres sqlite}"
concurrency="${CSM_BENCH_CONCURRENCY:-1 32}"
postgres_base="${CSM_BENCH_POSTGRES_URL:-${CSM_TEST_POSTGRES_URL:-postgres://postgres@127.0.0.1:5432/test}}"

# shellcheck source=bench-lib.sh
source "$root/scripts/bench-lib.sh"
bench_prerequisites
csm=$("$root/scripts/bench-binary.sh")

work=""
server_pid=""
database=""
stop_run() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  server_pid=""
  if [ -n "$database" ]; then psql -q "$postgres_base" -c "DROP DATABASE IF EXISTS $database" >/dev/null 2>&1 || true; fi
  database=""
  if [ -n "$work" ]; then
    if [ -z "${CSM_BENCH_KEEP:-}" ]; then rm -rf "$work"; else echo "bench-writes: kept $work" >&2; fi
  fi
  work=""
}
trap stop_run EXIT

base=52151
case_access="http://127.0.0.1:$((base + 3))"
create_path=/csm.case_access.v1.CaseAccessService/CreateCase
printf '\n%-9s %-13s %-12s %10s %10s %10s %8s\n' backend request concurrency "cases/s" "p50 µs" "p99 µs" failed
for backend in $backends; do
  work=$(mktemp -d)
  extra=()
  if [ "$backend" = postgres ]; then
    database="csm_bench_$$"
    psql -q "$postgres_base" -c "CREATE DATABASE $database" >/dev/null
    extra=(--postgres "${postgres_base%/*}/$database")
  fi
  bench_start_suite "${extra[@]}"
  account=$(bench_demo_id "Acme France")
  [ -n "$account" ] || { cat "$work/dev.out" >&2; echo "bench-writes: demo account not found" >&2; exit 1; }
  token=$("$csm" token --data-dir "$CSM_DATA_DIR" --ttl-seconds 3600)
  python3 "$root/scripts/bench-frames.py" "$work" - - - "$account"
  for request in create create-token; do
    bench_expect_ok "$request" "$case_access" "$create_path"
    for clients in $concurrency; do
      read -r r a b f < <(bench_h2load "$request" "$case_access" "$create_path" "$clients" 1)
      printf '%-9s %-13s %-12s %10s %10s %10s %8s\n' "$backend" "$request" "$clients" "$r" "$a" "$b" "$f"
    done
  done
  stop_run
done
