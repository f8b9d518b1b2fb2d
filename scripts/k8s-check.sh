#!/usr/bin/env bash
# make k8s-check: builds every overlay of deploy/k8s with kustomize and
# validates each object strictly (kubeconform) against JSON schemas made from
# the OpenAPI document of the pinned Kubernetes release (tools/cmd/k8sschema);
# then plants two mistakes and makes sure they are caught, so the check
# cannot pass by checking nothing. kustomize and kubeconform come from
# `make tools`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

K8S_VERSION=${K8S_VERSION:?set by the Makefile}
die() { echo "k8s-check: $*" >&2; exit 1; }
for tool in kustomize kubeconform; do
	command -v "$tool" >/dev/null || die "$tool is not installed: run 'make tools'"
done

schemas=deploy/.build/k8s-schemas/$K8S_VERSION
if [[ ! -f $schemas/deployment-apps-v1.json ]]; then
	dir=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
	[[ -n $dir ]] || die "could not download k8s.io/kubernetes@$K8S_VERSION"
	go run ./tools/cmd/k8sschema -spec "$dir/api/openapi-spec/swagger.json" -out "$schemas.tmp"
	rm -rf "$schemas" && mv "$schemas.tmp" "$schemas"
fi

# cert-manager's kinds are custom resources, with no schema in the release.
validate() {
	kubeconform -strict -summary -skip Certificate,Issuer \
		-schema-location "$schemas/{{ .ResourceKind }}{{ .KindSuffix }}.json" "$@"
}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for overlay in deploy/k8s/overlays/*/; do
	name=$(basename "$overlay")
	kustomize build "$overlay" >"$out/$name.yaml" || die "kustomize build $overlay failed"
	echo "[k8s-check] $name: $(grep -c '^kind:' "$out/$name.yaml") objects"
	validate "$out/$name.yaml" || die "$name: invalid objects (above)"
done

# Planted mistakes: each must make the validation fail.
plant() {
	local what=$1 expr=$2
	sed "0,/$expr/s//$3/" "$out/dev.yaml" >"$out/planted.yaml"
	cmp -s "$out/dev.yaml" "$out/planted.yaml" && die "planting \"$what\" changed nothing"
	if validate "$out/planted.yaml" >/dev/null; then
		die "planted \"$what\" passed the validation"
	fi
	echo "[k8s-check] planted mistake caught: $what"
}
plant "a misspelled field" '  replicas: 1' '  replica: 1'
plant "a string where an integer belongs" '  replicas: 1' '  replicas: "three"'

# The in-cluster Postgres creates the same databases as make up's.
cmp -s deploy/postgres/init/01-databases.sql deploy/k8s/components/postgres/01-databases.sql ||
	die "deploy/k8s/components/postgres/01-databases.sql differs from deploy/postgres/init/01-databases.sql"
echo "[k8s-check] ok"
