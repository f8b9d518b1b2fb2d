#!/usr/bin/env bash
# Measures shopmesh in bad weather on the `make up` stack, twice: with the
# adaptive concurrency limits and with OVERLOAD_LIMIT=off, in one run so the
# two compare. The load runs inside the stack's own Docker network
# (shopmesh/loadcurve:dev), never from the host to a container address.
# Results: docs/bench/overload-{adaptive,off}.json and docs/overload.png;
# docs/deadlines.md explains them. Takes about half an hour (the curve is
# offered three times, -rounds).
#
# Usage: scripts/bench-overload.sh   (make bench calls it; needs `make up` first)
# Environment: COMPOSE (e.g. "docker compose" or docker-compose), JWT_SIGNING_KEY,
# STEP (how long each rate is offered, default 20s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${COMPOSE:?set COMPOSE (make bench does)}"
: "${JWT_SIGNING_KEY:?set JWT_SIGNING_KEY (make bench does)}"
STEP=${STEP:-20s}
OUT=$PWD/docs/bench
NET=shopmesh_default
mkdir -p "$OUT"

deploy/images.sh loadcurve >/dev/null
docker network inspect "$NET" >/dev/null 2>&1 || { echo "bench: $NET not found: run 'make up' first" >&2; exit 1; }

loadcurve() {
	docker run --rm --network "$NET" --user "$(id -u):$(id -g)" \
		-v "$PWD/deploy/certs/ca.pem:/certs/ca.pem:ro" -v "$OUT:/out" \
		shopmesh/loadcurve:dev -jwt-key "$JWT_SIGNING_KEY" -step "$STEP" "$@"
}

restack() {
	echo "[bench] services with OVERLOAD_LIMIT=$1"
	OVERLOAD_LIMIT=$1 POSTGRES_IMAGE=$(deploy/postgres/image.sh) \
		$COMPOSE -p shopmesh -f deploy/compose.yaml up -d gateway order inventory payment shipping >/dev/null
	scripts/wait-ready.sh "http://127.0.0.1:${GATEWAY_PORT:-8080}" >/dev/null
	sleep 10 # let every replica register and every resolver see it
}

trap 'restack adaptive' EXIT
for label in adaptive off; do
	restack "$label"
	echo "[bench] measuring with OVERLOAD_LIMIT=$label"
	loadcurve -label "$label"
done
loadcurve -plot /out/overload.png
mv "$OUT/overload.png" docs/overload.png
echo "[bench] results in docs/bench/overload-*.json, plot in docs/overload.png"
