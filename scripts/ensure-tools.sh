#!/usr/bin/env bash
# Installs the non-Rust tools the tests need into .tools/ (project-local, no root needed).
# buf comes from the npm registry (@bufbuild/buf ships its binary inside the package).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tools="$root/.tools"
BUF_VERSION="1.75.0"
if [ ! -x "$tools/node_modules/.bin/buf" ] || ! "$tools/node_modules/.bin/buf" --version 2>/dev/null | grep -q "$BUF_VERSION"; then
  if ! command -v npm >/dev/null 2>&1; then
    echo "ensure-tools: npm not found; install Node.js/npm to get buf (@bufbuild/buf)" >&2
    exit 1
  fi
  mkdir -p "$tools"
  echo "ensure-tools: installing @bufbuild/buf@$BUF_VERSION into .tools/" >&2
  npm install --silent --no-audit --no-fund --prefix "$tools" "@bufbuild/buf@$BUF_VERSION" >&2
fi
echo "$tools/node_modules/.bin/buf"
