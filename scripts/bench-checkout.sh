#!/usr/bin/env bash
# Measures the checkout path on the `make up` stack (with the adaptive
# limits, as it runs): the saturation rate of orders and p50/p90/p99 at
# rising rates, the catalog's reads (GET /v1/products) as a second curve,
# and where the time goes at saturation: each container's CPU (docker stats)
# and a CPU profile of one replica of each service (its admin port's
# /debug/pprof/); last, what a confirmed order costs each container in CPU
# time, at a fixed rate well below saturation. The load runs inside the
# stack's Docker network.
# Results: docs/bench/checkout.json, docs/bench/checkout-cpu.txt,
# docs/bench/checkout-profiles.txt, docs/bench/checkout-cost.txt and
# docs/checkout.png; docs/benchmarks.md reads them. Takes about 17 minutes.
#
# Usage: scripts/bench-checkout.sh   (make bench-checkout calls it; needs `make up`)
# Environment: JWT_SIGNING_KEY, GO (default go), STEP (default 20s),
# COST_RATE (orders/s for the cost per order, default 40), DOCKER_SOCK (Docker's
# socket, default /var/run/docker.sock; e.g. rootless Docker's).
# Needs curl (the cost reads Docker's API on /var/run/docker.sock).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

: "${JWT_SIGNING_KEY:?set JWT_SIGNING_KEY (make bench does)}"
GO=${GO:-go}
STEP=${STEP:-20s}
COST_RATE=${COST_RATE:-40}
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
NET=shopmesh_default
OUT=$PWD/docs/bench
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

command -v curl >/dev/null || { echo "bench: curl not found (the cost per order reads Docker's API with it)" >&2; exit 1; }
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

# cpu_times prints "<container> <CPU ns since it started>" for every
# container of the stack (Docker's API: the same counters on cgroup v1 and v2).
cpu_times() {
	local id name ns
	for id in $(docker ps -q --filter label=com.docker.compose.project=shopmesh); do
		name=$(docker inspect -f '{{.Name}}' "$id")
		ns=$(curl -sf --unix-socket "$DOCKER_SOCK" "http://localhost/containers/$id/stats?stream=false&one-shot=true" |
			grep -o '"cpu_stats":{"cpu_usage":{"total_usage":[0-9]*' | grep -o '[0-9]*$')
		echo "${name#/} ${ns:?no CPU counter for $name}"
	done
}

# What a confirmed order costs, in CPU time per container: the counters
# over COST_RATE orders/s for 30 s, less what the same containers use idle
# over the 20 s before (health checks, the recovery and relay loops),
# divided by the orders confirmed.
echo "[bench] checkout: CPU time per confirmed order at $COST_RATE orders/s"
sleep 10 # the curve's last orders settle
cpu_times > "$WORK/cpu-idle0.txt"; t0=$(date +%s.%N)
sleep 20
cpu_times > "$WORK/cpu-idle1.txt"; t1=$(date +%s.%N)
loadcurve -saturation "$COST_RATE" -factors 1 -rounds 1 -scenarios curve -step 30s -label cost >/dev/null
cpu_times > "$WORK/cpu-load.txt"; t2=$(date +%s.%N)
confirmed=$(grep -o '"201": *[0-9]*' "$WORK/overload-cost.json" | head -1 | grep -o '[0-9]*$')
[ "${confirmed:-0}" -gt 0 ] || { echo "bench: no order confirmed at $COST_RATE orders/s" >&2; exit 1; }
{
	echo "# CPU time per confirmed order, $COST_RATE orders/s offered for 30 s, $confirmed confirmed ($(date -u +%FT%TZ))"
	echo "# less each container's idle use; ms of CPU per order"
	# total first (the largest), then each service, its replicas summed
	awk -v t0="$t0" -v t1="$t1" -v t2="$t2" -v n="$confirmed" '
		FILENAME ~ /idle0/ { i0[$1] = $2; next }
		FILENAME ~ /idle1/ { i1[$1] = $2; next }
		($1 in i1) {
			ms = (($2 - i1[$1]) - (i1[$1] - i0[$1]) / (t1 - t0) * (t2 - t1)) / n / 1e6
			svc = $1; sub(/^shopmesh[-_]/, "", svc); sub(/[-_][0-9]+$/, "", svc)
			per[svc] += ms; total += ms
		}
		END {
			for (s in per) printf "%s\t%.2f\n", s, per[s]
			printf "total\t%.2f\n", total
		}' "$WORK/cpu-idle0.txt" "$WORK/cpu-idle1.txt" "$WORK/cpu-load.txt" | sort -t"$(printf '\t')" -k2 -rn
} > "$WORK/cost.txt"
cat "$WORK/cost.txt"

cp "$WORK/overload-checkout.json" "$OUT/checkout.json"
cp "$WORK/cost.txt" "$OUT/checkout-cost.txt"
cp "$WORK/cpu.txt" "$OUT/checkout-cpu.txt"
for f in "$WORK"/profiles/*.pb.gz; do
	echo "## $(basename "$f" .pb.gz)"
	$GO tool pprof -top -nodecount=20 "$f" 2>/dev/null | sed -n '2,30p'
	echo
done > "$OUT/checkout-profiles.txt"
loadcurve -plot-checkout /out/checkout.png
mv "$WORK/checkout.png" docs/checkout.png
echo "[bench] results in docs/bench/checkout*.{json,txt}, plot in docs/checkout.png"
