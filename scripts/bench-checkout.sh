#!/usr/bin/env bash
# Measures the checkout path on the `make up` stack (with the adaptive
# limits, as it runs): the saturation rate of orders and p50/p90/p99 at
# rising rates, the catalog's reads (GET /v1/products) as a second curve,
# and where the time goes at saturation: each container's CPU (docker stats)
# and a CPU profile of one replica of each service (its admin port's
# /debug/pprof/). The load runs inside the stack's Docker network.
# Results: docs/bench/checkout.json, docs/bench/checkout-cpu.txt,
# docs/bench/checkout-profiles.txt and docs/checkout.png; docs/benchmarks.md
# reads them. Takes about 12 minutes.
#
# Usage: scripts/bench-checkout.sh   (make bench-checkout calls it; needs `make up`)
# Environment: JWT_SIGNING_KEY, GO (default go), STEP (default 20s).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${JWT_SIGNING_KEY:?set JWT_SIGNING_KEY (make bench does)}"
GO=${GO:-go}
STEP=${STEP:-20s}
NET=shopmesh_default
OUT=$PWD/docs/bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

deploy/images.sh loadcurve >/dev/null
docker network inspect "$NET" >/dev/null 2>&1 || { echo "bench: $NET not found: run 'make up' first" >&2; exit 1; }

loadcurve() {
	docker run --rm --network "$NET" --user "$(id -u):$(id -g)" \
		-v "$PWD/deploy/certs/ca.pem:/certs/ca.pem:ro" -v "$WORK:/out" \
		shopmesh/loadcurve:dev -jwt-key "$JWT_SIGNING_KEY" -step "$STEP" -label checkout "$@"
}

echo "[bench] checkout: orders from a quarter of the saturation rate to 1.5 times it, catalog reads, profiles at saturation"
loadcurve -scenarios curve,reads,profile -factors 0.25,0.5,0.75,1,1.25,1.5 &
lc=$!
# Sample every container's CPU while the profiles are taken (loadcurve
# marks those seconds with a file).
while kill -0 "$lc" 2>/dev/null && [ ! -e "$WORK/profiles/profiling" ]; do sleep 1; done
if [ -e "$WORK/profiles/profiling" ]; then
	sleep 5
	{
		echo "# docker stats during the CPU profiles, orders offered at the saturation rate ($(date -u +%FT%TZ))"
		docker stats --no-stream --format '{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}' | sort -t$'\t' -k2 -rn
	} > "$WORK/cpu.txt"
fi
wait "$lc"

cp "$WORK/overload-checkout.json" "$OUT/checkout.json"
cp "$WORK/cpu.txt" "$OUT/checkout-cpu.txt"
for f in "$WORK"/profiles/*.pb.gz; do
	echo "## $(basename "$f" .pb.gz)"
	$GO tool pprof -top -nodecount=20 "$f" 2>/dev/null | sed -n '2,30p'
	echo
done > "$OUT/checkout-profiles.txt"
loadcurve -plot-checkout /out/checkout.png
mv "$WORK/checkout.png" docs/checkout.png
echo "[bench] results in docs/bench/checkout*.{json,txt}, plot in docs/checkout.png"
