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

# shellcheck source=bench-lib.sh
source "$root/scripts/bench-lib.sh"
bench_prerequisites

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
bench_start_suite

carl=$(bench_demo_id "Carl Contact")
allowed_case=$(bench_demo_id "Acme France: Printer on fire")
denied_case=$(bench_demo_id "Globex: VPN down")
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
  bench_expect_ok "$1" "$case_access" /csm.case_access.v1.CaseAccessService/Check
  python3 - "$work/$1.answer" "$2" "$1" <<'PY'
import sys
answer, expected, name = open(sys.argv[1], "rb").read(), sys.argv[2], sys.argv[3]
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
    read -r r a b f < <(bench_h2load "$name" "$case_access" "$path" "$connections" "$streams")
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
