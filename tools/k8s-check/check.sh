#!/usr/bin/env bash
# `make k8s-check`: render each kustomization, validate it offline against the Kubernetes schemas, scan it
# and the server Dockerfiles with checkov, lint the Dockerfiles with hadolint. Exits non-zero on any failure.
# Usage: tools/k8s-check/check.sh [KUSTOMIZATION_DIR...]   (default: both overlays, k8s/kserve, k8s/training)
set -uo pipefail
cd "$(dirname "$0")/../.."

HERE=tools/k8s-check
VENV=${K8S_VENV:-.venv-k8s}
K8S_VERSION=${K8S_VERSION:-1.32.0}
OUT=${K8S_CHECK_OUT:-build/k8s-check}
# InferenceService is a CRD: kubernetes-validate bundles schemas for built-in kinds only.
SCHEMALESS=(k8s/kserve)
read -r -a DOCKERFILES <<<"${K8S_CHECK_DOCKERFILES:-serving/onnx/Dockerfile serving/tfserving/Dockerfile models/distributed/Dockerfile}"
# checkov would otherwise call Prisma Cloud and PyPI, which are unreachable offline and only slow it down.
export BC_SKIP_MAPPING=TRUE CKV_SKIP_PACKAGE_UPDATE_CHECK=true

if [ $# -gt 0 ]; then targets=("$@"); else targets=(k8s/overlays/dev k8s/overlays/prod k8s/kserve k8s/training); fi
KUBECTL=${KUBECTL:-$(command -v kubectl || echo "$VENV/bin/kubectl")}
for tool in "$KUBECTL" "$VENV/bin/kubernetes-validate" "$VENV/bin/checkov" "$VENV/bin/hadolint"; do
  [ -x "$tool" ] || { echo "k8s-check: $tool not found (run: make -f k8s/k8s.mk k8s-venv)" >&2; exit 2; }
done

summary=()
failed=0
record() { summary+=("$(printf '%-5s %s' "$1" "$2")"); [ "$1" != FAIL ] || failed=1; }

# run NAME CMD...: record the outcome; show the command's output only when it fails.
run() {
  local name=$1 log
  shift
  log=$(mktemp)
  local rc=0
  "$@" >"$log" 2>&1 || rc=$?
  if [ $rc -eq 0 ]; then record PASS "$name"; else record FAIL "$name"; sed 's/^/    /' "$log"; fi
  rm -f "$log"
  return $rc
}

# kubernetes-validate only warns (exit 0) on a kind it has no schema for, so a typo in apiVersion or kind
# would pass; in strict mode treat any warning as a failure.
validate() {
  local out
  out=$("$VENV/bin/kubernetes-validate" --strict -k "$K8S_VERSION" --quiet "$@" 2>&1)
  local rc=$?
  echo "$out"
  [ $rc -eq 0 ] && ! grep -q WARN <<<"$out"
}

mkdir -p "$OUT"
rendered=()
validated=()
for t in "${targets[@]}"; do
  file="$OUT/$(echo "${t#./}" | tr '/' '_').yaml"
  run "render $t" sh -c '"$1" kustomize "$2" > "$3"' _ "$KUBECTL" "$t" "$file" || continue
  rendered+=("$file")
  if [[ " ${SCHEMALESS[*]} " == *" ${t%/} "* ]]; then
    record SKIP "schema $t (CRDs: no schema bundled in kubernetes-validate)"
  else
    validated+=("$file")
  fi
done

if [ ${#validated[@]} -gt 0 ]; then
  run "schema (Kubernetes $K8S_VERSION, strict): ${validated[*]}" validate "${validated[@]}"
fi
if [ ${#rendered[@]} -gt 0 ]; then
  args=(); for f in "${rendered[@]}"; do args+=(-f "$f"); done
  run "checkov kubernetes: ${rendered[*]}" "$VENV/bin/checkov" --config-file "$HERE/.checkov.yaml" \
    --framework kubernetes "${args[@]}"
fi

dockerfiles=()
for d in "${DOCKERFILES[@]}"; do
  if [ -f "$d" ]; then dockerfiles+=("$d"); else record SKIP "$d (not there yet)"; fi
done
if [ ${#dockerfiles[@]} -gt 0 ]; then
  args=(); for f in "${dockerfiles[@]}"; do args+=(-f "$f"); done
  run "checkov dockerfile: ${dockerfiles[*]}" "$VENV/bin/checkov" --config-file "$HERE/.checkov.yaml" \
    --framework dockerfile "${args[@]}"
  run "hadolint: ${dockerfiles[*]}" "$VENV/bin/hadolint" --config "$HERE/.hadolint.yaml" "${dockerfiles[@]}"
fi

echo "k8s-check summary (kubectl: $KUBECTL, rendered YAML in $OUT/):"
printf '  %s\n' "${summary[@]}"
if [ $failed -ne 0 ]; then echo "k8s-check: FAILED"; exit 1; fi
echo "k8s-check: OK"
