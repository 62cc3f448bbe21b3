# Shared by the h2load benchmarks (scripts/bench-check.sh, scripts/bench-writes.sh);
# source it after setting `work` (a temporary folder) and `duration` (seconds per run).

# h2load (Debian nghttp2-client), installed when missing; and two CPUs.
bench_prerequisites() {
  if ! command -v h2load >/dev/null 2>&1; then
    echo "bench: installing h2load (Debian nghttp2-client)" >&2
    if [ "$(id -u)" = 0 ]; then
      DEBIAN_FRONTEND=noninteractive apt-get install -y -q nghttp2-client >&2
    else
      sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q nghttp2-client >&2
    fi
  fi
  local cpus
  cpus=$(nproc)
  if [ "$cpus" -lt 2 ]; then
    echo "bench: needs 2 CPUs (server on one, load on the other); this machine has $cpus" >&2
    exit 1
  fi
}

# Starts `$csm dev` pinned to CPU 0 on ports from `$base` (extra arguments are
# passed on) and waits until it prints "ready"; sets server_pid.
bench_start_suite() {
  export CSM_DATA_DIR="$work/data"
  # As in production: JSON log lines at INFO (csm dev's default is for people).
  export CSM_LOG_FORMAT=json RUST_LOG=info
  echo "==> starting the suite on CPU 0 (logs in $work/server.log)" >&2
  taskset -c 0 "$csm" dev --data-dir "$CSM_DATA_DIR" --base-port "$base" "$@" >"$work/dev.out" 2>"$work/server.log" &
  server_pid=$!
  for _ in $(seq 1 120); do
    grep -q '^ready' "$work/dev.out" 2>/dev/null && break
    if ! kill -0 "$server_pid" 2>/dev/null; then
      cat "$work/dev.out" "$work/server.log" >&2
      echo "bench: the suite did not start" >&2
      exit 1
    fi
    sleep 0.5
  done
  grep -q '^ready' "$work/dev.out" || { echo "bench: the suite did not get ready" >&2; exit 1; }
}

# The first UUID on the line of csm dev's banner that contains $1.
bench_demo_id() {
  awk -v label="$1" 'index($0, label) { for (i = 1; i <= NF; i++) if ($i ~ /^[0-9a-f]{8}-[0-9a-f]{4}-/) { print $i; exit } }' "$work/dev.out"
}

# Drives $work/<name>.bin at <url><path> with h2load pinned to CPU 1 for
# $duration seconds; prints "req/s p50-µs p99-µs failed" (failed: requests
# h2load saw fail plus the server's ERROR lines meanwhile: a gRPC error is HTTP 200).
bench_h2load() { # name url path connections streams
  local name=$1 url=$2 path=$3 connections=$4 streams=$5
  local log="$work/$name-$connections-$streams.log"
  local errors_before
  errors_before=$(grep -c '"level":"ERROR"' "$work/server.log" || true)
  taskset -c 1 h2load -D "$duration" --warm-up-time=2 -c "$connections" -m "$streams" -t 1 \
    -H 'content-type: application/grpc' -H 'te: trailers' -H "authorization: Bearer $token" \
    -d "$work/$name.bin" --log-file="$log" "$url$path" >"$work/$name-$connections-$streams.out" 2>&1 || true
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
print(f"{len(times) / duration:.0f} {pct(0.50)} {pct(0.99)} {(int(failed.group(1)) if failed else 0) + errors}")
PY
}

# Sends $work/<name>.bin once with curl to <url><path>; fails unless the
# answer's grpc-status is 0 (the body is left in $work/<name>.answer).
bench_expect_ok() { # name url path
  local name=$1 url=$2 path=$3
  curl -s --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    -H "authorization: Bearer $token" --data-binary @"$work/$name.bin" -D "$work/$name.headers" -o "$work/$name.answer" \
    "$url$path" || true
  if ! grep -qi 'grpc-status: *0' "$work/$name.headers"; then
    echo "bench: the $name request failed: $(tr -d '\r' <"$work/$name.headers" | grep -i grpc- | tr '\n' ' ')" >&2
    exit 1
  fi
}
