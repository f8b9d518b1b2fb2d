#!/usr/bin/env bash
# Prints the Postgres image shopmesh should use, making sure it is present:
#   - POSTGRES_IMAGE when set (built here by build.sh if it is shopmesh/*);
#   - otherwise the official postgres:15, when present or pullable;
#   - otherwise shopmesh/postgres:15, built from Debian's packages by
#     build.sh (cached), for machines that reach no container registry.
# The image name goes to stdout, progress to stderr. Used by `make up`,
# `make postgres-image` and the tests (pgtest), so all three agree.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
OFFICIAL=postgres:15
LOCAL=shopmesh/postgres:15

build() {
	"$HERE/build.sh" --tag "$1" >&2
	echo "$1"
}

if [ -n "${POSTGRES_IMAGE:-}" ]; then
	case $POSTGRES_IMAGE in
	shopmesh/*) build "$POSTGRES_IMAGE" ;;
	*) echo "$POSTGRES_IMAGE" ;; # docker pulls it when it is used
	esac
	exit 0
fi
if docker image inspect "$OFFICIAL" >/dev/null 2>&1; then
	echo "$OFFICIAL"
	exit 0
fi
if timeout 120 docker pull -q "$OFFICIAL" >/dev/null 2>&1; then
	echo "[postgres] pulled $OFFICIAL" >&2
	echo "$OFFICIAL"
	exit 0
fi
echo "[postgres] $OFFICIAL cannot be pulled here; using $LOCAL, built from Debian's packages" >&2
build "$LOCAL"
