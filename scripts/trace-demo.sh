#!/usr/bin/env bash
# `csm dev` exporting its traces to a real OTLP receiver (issue 7).
#
# 1. installs oteltest's `otelsink` (PyPI; an OTLP/gRPC receiver that prints
#    what it receives) into .tools/otel, and starts it on 127.0.0.1:4317;
# 2. starts `csm dev` on a fresh data directory with
#    OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 (traces) and
#    OTEL_METRICS_EXPORTER=otlp (metrics, every 2 s);
# 3. asks one cache-missing Check (`csm check`, the demo customer admin on a
#    demo case), waits for the batch exporter, stops everything;
# 4. prints the span tree of that Check's trace as the receiver got it, and
#    the metrics it received over OTLP (scripts/otlp_span_tree.py).
#
# Nothing here is needed by the tests. Usage: scripts/trace-demo.sh
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

venv=.tools/otel
if [ ! -x "$venv/bin/otelsink" ]; then
  echo "==> installing oteltest (otelsink) into $venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q 'oteltest==0.49.0'
fi

echo "==> building csm"
cargo build -q -p csm-cli --bin csm
csm="${CARGO_TARGET_DIR:-target}/debug/csm"

work=$(mktemp -d)
port=$((52000 + RANDOM % 5000))
cleanup() {
  [ -n "${dev:-}" ] && kill "$dev" 2>/dev/null || true
  [ -n "${sink:-}" ] && kill "$sink" 2>/dev/null || true
  wait 2>/dev/null || true
}
trap cleanup EXIT

echo "==> otelsink on 127.0.0.1:4317 (log: $work/otelsink.log)"
PYTHONUNBUFFERED=1 "$venv/bin/otelsink" >"$work/otelsink.log" 2>&1 &
sink=$!
for _ in $(seq 1 50); do
  python3 -c 'import socket; socket.create_connection(("127.0.0.1", 4317), 0.2)' 2>/dev/null && break
  sleep 0.2
done

# A random base port (and +1000 for metrics) may be taken: try a few.
for attempt in 1 2 3 4 5; do
  echo "==> csm dev on 127.0.0.1:$port, exporting to http://127.0.0.1:4317 (log: $work/dev.log)"
  OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 OTEL_METRICS_EXPORTER=otlp OTEL_METRIC_EXPORT_INTERVAL=2000 \
    CSM_LOG_FORMAT=pretty \
    "$csm" dev --data-dir "$work/data" --base-port "$port" >"$work/dev.log" 2>&1 &
  dev=$!
  for _ in $(seq 1 300); do
    grep -q '^ready' "$work/dev.log" && break
    kill -0 "$dev" 2>/dev/null || break
    sleep 0.2
  done
  grep -q '^ready' "$work/dev.log" && break
  grep -q 'Address already in use' "$work/dev.log" || break
  dev=
  port=$((52000 + RANDOM % 5000))
done
grep -q '^ready' "$work/dev.log" || { echo "csm dev did not start"; cat "$work/dev.log"; exit 1; }

check_line=$(grep -m1 -- '--explain' "$work/dev.log" | sed 's/ --explain//')
case_id=$(echo "$check_line" | sed -E 's/.*--case ([^ ]+).*/\1/')
profile=$(echo "$check_line" | sed -E 's/.*--as ([^ ]+).*/\1/')
echo "==> csm check --case $case_id --as $profile"
"$csm" check --data-dir "$work/data" --target "127.0.0.1:$port" --case "$case_id" --as "$profile"

echo "==> waiting for the batch exporter (5 s schedule)"
sleep 7
kill "$dev" 2>/dev/null || true
wait "$dev" 2>/dev/null || true
dev=
sleep 1

echo "==> the Check's trace, as otelsink received it"
python3 scripts/otlp_span_tree.py "$work/otelsink.log" "csm.case_access.v1.CaseAccessService/Check"
