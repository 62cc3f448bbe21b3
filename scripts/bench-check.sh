#!/usr/bin/env bash
# The Check benchmark of issue 15, reproducible from a fresh clone:
#   - builds the release `csm` and starts the suite (`csm dev`, embedded
#     SQLite, demo data) pinned to CPU 0;
#   - drives fixed gRPC requests with h2load (Debian nghttp2-client, installed
#     when missing) pinned to CPU 1: the server's no-op health check, a Check
#     that is allowed, a Check that is denied and a BatchCheck of 100 items
#     (half allowed, half denied), at 1:1, 16:8 and 64:16 (connections :
#     streams per connection), after checking with `csm check` that the
#     fixed requests get the answers meant;
#   - prints req/s, p50 and p99 (from h2load's per-request log) and the ratios
#     Check/health and deny/allow, all from this one run on this machine.
#
# Usage: scripts/bench-check.sh [seconds-per-run, default 10]
# Env:   CSM_BENCH_SETTINGS="1:1 16:8 64:16"  CSM_BENCH_KEEP=1 (keep the temp dir)
#        CSM_BENCH_REQUESTS="health allow deny batch" (a subset, e.g. to profile one)
#        CSM_BENCH_BINARY=<csm> (measure that binary instead of building this checkout's,
#        e.g. an older build for a before/after comparison in one session)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
duration="${1:-10}"
settings="${CSM_BENCH_SETTINGS:-1:1 16:8 64:16}"

if ! command -v h2load >/dev/null 2>&1; then
  echo "bench-check: installing h2load (Debian nghttp2-client)" >&2
  if [ "$(id -u)" = 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q nghttp2-client >&2
  else
    sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q nghttp2-client >&2
  fi
fi
cpus=$(nproc)
if [ "$cpus" -lt 2 ]; then
  echo "bench-check: needs 2 CPUs (server on one, load on the other); this machine has $cpus" >&2
  exit 1
fi

csm=$("$root/scripts/bench-binary.sh")

work=$(mktemp -d)
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  if [ -z "${CSM_BENCH_KEEP:-}" ]; then rm -rf "$work"; else echo "bench-check: kept $work" >&2; fi
}
trap cleanup EXIT

# Ports of their own, so a `make run` on the default ports is not disturbed.
base=52051
export CSM_DATA_DIR="$work/data"
# As in production: JSON log lines at INFO (csm dev's default is for people).
export CSM_LOG_FORMAT=json RUST_LOG=info
echo "==> starting the suite on CPU 0 (logs in $work/server.log)" >&2
taskset -c 0 "$csm" dev --data-dir "$CSM_DATA_DIR" --base-port "$base" >"$work/dev.out" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 120); do
  grep -q '^ready' "$work/dev.out" 2>/dev/null && break
  if ! kill -0 "$server_pid" 2>/dev/null; then
    cat "$work/dev.out" "$work/server.log" >&2
    echo "bench-check: the suite did not start" >&2
    exit 1
  fi
  sleep 0.5
done
grep -q '^ready' "$work/dev.out" || { echo "bench-check: the suite did not get ready" >&2; exit 1; }

field() { awk -v label="$1" 'index($0, label) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]{8}-[0-9a-f]{4}-/) { print $i; exit } }' "$work/dev.out"; }
carl=$(field "Carl Contact")
allowed_case=$(field "Acme France: Printer on fire")
denied_case=$(field "Globex: VPN down")
if [ -z "$carl" ] || [ -z "$allowed_case" ] || [ -z "$denied_case" ]; then
  cat "$work/dev.out" >&2
  echo "bench-check: demo ids not found in csm dev's output" >&2
  exit 1
fi
token=$("$csm" token --data-dir "$CSM_DATA_DIR" --ttl-seconds 3600)
case_access="http://127.0.0.1:$((base + 3))"

# gRPC frames of the fixed requests (scripts/bench-frames.py).
python3 "$root/scripts/bench-frames.py" "$work" "$carl" "$allowed_case" "$denied_case"

# h2load sees HTTP statuses only (a gRPC error is HTTP 200): first make sure
# the fixed Checks get the answers meant (grpc-status 0, allowed or not), then
# count the server's ERROR lines during each run.
expect() { # name allowed(1|0)
  curl -s --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "authorization: Bearer $token" --data-binary @"$work/$1.bin" -D "$work/$1.headers" -o "$work/$1.answer" \
    "$case_access/csm.case_access.v1.CaseAccessService/Check" || true
  python3 - "$work/$1.headers" "$work/$1.answer" "$2" "$1" <<'PY'
import re, sys
headers, answer, expected, name = open(sys.argv[1]).read(), open(sys.argv[2], "rb").read(), sys.argv[3], sys.argv[4]
status = re.search(r"grpc-status: *(\d+)", headers)
if not status or status.group(1) != "0":
    sys.exit(f"bench-check: the {name} Check failed: {headers!r}")
# CheckResponse.decision (field 1) starting with Decision.allowed (field 1) = true.
body, at = answer[5:], 1
while at < len(body) and body[at] & 0x80:  # the length varint of the decision
    at += 1
allowed = body[:1] == b"\x0a" and body[at + 1:at + 3] == b"\x08\x01"
if allowed != (expected == "1"):
    sys.exit(f"bench-check: the {name} Check should be {'allowed' if expected == '1' else 'denied'}")
PY
}
expect allow 1
expect deny 0

run() { # name path connections streams
  local name=$1 path=$2 connections=$3 streams=$4
  local log="$work/$name-$connections-$streams.log"
  local errors_before
  errors_before=$(grep -c '"level":"ERROR"' "$work/server.log" || true)
  taskset -c 1 h2load -D "$duration" --warm-up-time=2 -c "$connections" -m "$streams" -t 1 \
    -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token" \
    -d "$work/$name.bin" --log-file="$log" "$case_access$path" >"$work/$name-$connections-$streams.out" 2>&1 || true
  local errors=$(( $(grep -c '"level":"ERROR"' "$work/server.log" || true) - errors_before ))
  python3 - "$log" "$work/$name-$connections-$streams.out" "$duration" "$errors" <<'PY'
import re, sys
log, out, duration, errors = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
times = sorted(int(line.split()[2]) for line in open(log) if line.strip() and line.split()[1] == "200")
text = open(out).read()
failed = re.search(r"(\d+) failed", text)
if not times:
    print("0 0 0 0")
    sys.exit()
def pct(p):
    return times[min(len(times) - 1, int(len(times) * p))]
# Failed: requests h2load saw fail, plus the server's ERROR lines (gRPC errors).
print(f"{len(times) / duration:.0f} {pct(0.50)} {pct(0.99)} {(int(failed.group(1)) if failed else 0) + errors}")
PY
}

printf '\n%-8s %-8s %12s %10s %10s %8s\n' setting request "req/s" "p50 µs" "p99 µs" failed
declare -A rate p50 p99
for setting in $settings; do
  connections=${setting%%:*}
  streams=${setting##*:}
  for name in ${CSM_BENCH_REQUESTS:-health allow deny batch}; do
    case $name in
      health) path=/grpc.health.v1.Health/Check ;;
      batch) path=/csm.case_access.v1.CaseAccessService/BatchCheck ;;
      *) path=/csm.case_access.v1.CaseAccessService/Check ;;
    esac
    read -r r a b f < <(run "$name" "$path" "$connections" "$streams")
    rate[$name]=$r; p50[$name]=$a; p99[$name]=$b
    printf '%-8s %-8s %12s %10s %10s %8s\n' "$setting" "$name" "$r" "$a" "$b" "$f"
  done
  python3 - "${rate[health]:-0}" "${rate[allow]:-0}" "${rate[deny]:-0}" "${p50[allow]:-0}" "${p99[allow]:-0}" "${rate[batch]:-0}" <<'PY'
import sys
health, allow, deny, p50, p99, batch = (float(value) for value in sys.argv[1:7])
ratio = lambda a, b: f"{a / b:.2f}" if b else "n/a"
print(f"         allow/health {ratio(allow, health)}   deny/allow {ratio(deny, allow)}   allow p99/p50 {ratio(p99, p50)}"
      f"   batch decisions/s {batch * 100:.0f}")
PY
done
rss=$(ps -o rss= -p "$server_pid" | tr -d ' ')
echo
echo "suite RSS after the runs: $((rss / 1024)) MB (all five services in one csm dev process on CPU 0)"
echo "server log: $(wc -l <"$work/server.log") lines"
