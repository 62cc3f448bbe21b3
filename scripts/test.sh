#!/usr/bin/env bash
# The project's test command (README: `make test`).
# 1. installs buf (npm registry) if needed and lints the contracts;
# 2. runs every test of the workspace: unit tests, the in-process suite over
#    gRPC on SQLite, and on PostgreSQL when CSM_TEST_POSTGRES_URL is set.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if buf="$(./scripts/ensure-tools.sh)"; then
  echo "==> buf lint (proto/)"
  "$buf" lint
  "$buf" build -o /dev/null
else
  if [ -n "${CI:-}" ]; then
    echo "buf could not be installed: failing in CI" >&2
    exit 1
  fi
  echo "!!! buf could not be installed (no npm?): proto lint SKIPPED" >&2
fi

if [ -z "${CSM_TEST_POSTGRES_URL:-}" ]; then
  cat >&2 <<'MSG'
!!! CSM_TEST_POSTGRES_URL is not set: the PostgreSQL variants of the tests are SKIPPED
!!! (each prints "SKIPPED (postgres)" to stderr). .ci/run sets it; locally:
!!!   CSM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test make test
MSG
else
  echo "==> PostgreSQL variants run against ${CSM_TEST_POSTGRES_URL}"
fi

echo "==> cargo test --workspace --no-fail-fast"
cargo test --workspace --locked --no-fail-fast
