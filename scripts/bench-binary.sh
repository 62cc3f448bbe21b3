#!/usr/bin/env bash
# The `csm` binary the benchmarks measure, on stdout: $CSM_BENCH_BINARY when
# set (e.g. an older build, for a before/after comparison in one session),
# else this checkout's release build, built here (progress on stderr).
set -euo pipefail
if [ -n "${CSM_BENCH_BINARY:-}" ]; then
  echo "$CSM_BENCH_BINARY"
  exit 0
fi
cd "$(dirname "$0")/.."
echo "==> building the release csm" >&2
cargo build --release --locked -p csm-cli >&2
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
echo "$target_dir/release/csm"
