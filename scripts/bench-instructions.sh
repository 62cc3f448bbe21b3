#!/usr/bin/env bash
# Instructions per request of the fixed Check requests (scripts/bench-check.sh)
# counted by valgrind's callgrind: repeatable on a noisy machine where req/s
# swings ±20 % between identical runs, so a change can be compared with the
# build before it.
#   - starts `csm dev` (embedded SQLite, demo data) under callgrind, counting
#     only inside hyper's per-stream future (everything a request costs from
#     the HTTP/2 stream in: middleware, handler, encoding; not the socket
#     loop) and the audit writer (where a denial's cost goes);
#   - sends 50 warm-up requests, zeroes the counters, sends N requests with
#     h2load (4:4), dumps the counts and prints instructions per request.
#
# Usage: scripts/bench-instructions.sh [requests, default 500]
# Env:   CSM_BENCH_BINARY=<csm> (else this checkout's release build is built and used)
#        CSM_BENCH_REQUESTS="allow deny batch" (a batch is 100 items; it is run N/5 times)
#        CSM_BENCH_KEEP=1 (keep the callgrind output, e.g. for callgrind_annotate)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
count="${1:-500}"

for tool in valgrind h2load; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    package=$([ "$tool" = h2load ] && echo nghttp2-client || echo valgrind)
    echo "bench-instructions: installing $tool (Debian $package)" >&2
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >&2
    else
      sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$package" >&2
    fi
  fi
done

csm=$("$root/scripts/bench-binary.sh")

measure() { # name requests
  local name=$1 requests=$2 work base=53051 pid path
  work=$(mktemp -d)
  export CSM_DATA_DIR="$work/data" CSM_LOG_FORMAT=json RUST_LOG=warn
  valgrind --tool=callgrind --collect-atstart=no --toggle-collect='*H2Stream*' --toggle-collect='*AuditWriter*' \
    --callgrind-out-file="$work/callgrind.out" "$csm" dev --data-dir "$CSM_DATA_DIR" --base-port "$base" \
    >"$work/dev.out" 2>"$work/server.log" &
  pid=$!
  for _ in $(seq 1 600); do
    grep -q '^ready' "$work/dev.out" 2>/dev/null && break
    kill -0 "$pid" 2>/dev/null || { cat "$work/server.log" >&2; echo "bench-instructions: the suite did not start" >&2; exit 1; }
    sleep 0.5
  done
  field() { awk -v label="$1" 'index($0, label) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]{8}-[0-9a-f]{4}-/) { print $i; exit } }' "$work/dev.out"; }
  python3 "$root/scripts/bench-frames.py" "$work" "$(field "Carl Contact")" \
    "$(field "Acme France: Printer on fire")" "$(field "Globex: VPN down")"
  local token
  token=$("$csm" token --data-dir "$CSM_DATA_DIR" --ttl-seconds 3600)
  case $name in
    batch) path=/csm.case_access.v1.CaseAccessService/BatchCheck ;;
    *) path=/csm.case_access.v1.CaseAccessService/Check ;;
  esac
  drive() {
    h2load -n "$1" -c 4 -m 4 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' \
      -H "authorization: Bearer $token" -d "$work/$name.bin" "http://127.0.0.1:$((base + 3))$path" >"$work/h2load.out" 2>&1
    grep -q "$1 succeeded" "$work/h2load.out" || { cat "$work/h2load.out" >&2; exit 1; }
  }
  drive 50
  # Startup (the demo data is written through gRPC) and warm-up are not counted.
  callgrind_control -z "$pid" >/dev/null
  sleep 1
  drive "$requests"
  sleep 1
  callgrind_control -d "$pid" >/dev/null
  sleep 1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local total
  total=$(cat "$work"/callgrind.out* | awk '/^summary:/ { sum += $2 } END { print sum }')
  printf '%-6s %12d instructions/request\n' "$name" $((total / requests))
  if [ -n "${CSM_BENCH_KEEP:-}" ]; then echo "bench-instructions: kept $work" >&2; else rm -rf "$work"; fi
}

for name in ${CSM_BENCH_REQUESTS:-allow deny batch}; do
  if [ "$name" = batch ]; then measure batch $((count / 5)); else measure "$name" "$count"; fi
done
