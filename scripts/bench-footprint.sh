#!/usr/bin/env bash
# Measures what shopmesh takes on one machine: a warm `make up` (images
# built and cached, the database volume new), each service's image size and
# memory after 30 s idle, and how long a stopped replica takes from
# `docker start` to ready (its own /readyz probe, polled every 50 ms through
# `docker exec`, so the figure is ±0.1 s). Results: docs/bench/footprint.md,
# which docs/benchmarks.md quotes. Takes about two minutes; leaves the stack up.
#
# Usage: scripts/bench-footprint.sh   (make bench-footprint calls it)
# Environment: MAKE (the make to run `make down` and `make up` with).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MAKE=${MAKE:-make}
SERVICES="gateway order inventory payment shipping"
OUT=docs/bench/footprint.md

ms() { echo $(($(date +%s%N) / 1000000)); }

echo "[footprint] make down, then a timed make up (images already built)"
$MAKE -s down >/dev/null 2>&1 || true
$MAKE -s images >/dev/null
t0=$(ms)
$MAKE -s up >/dev/null 2>&1
up_ms=$(($(ms) - t0))

echo "[footprint] idle for 30 s"
sleep 30
{
	echo "Measured $(date -u +%Y-%m-%dT%H:%MZ) on $(nproc) cores by scripts/bench-footprint.sh."
	echo
	printf 'Warm `make up` (images cached, new database volume), until the gateway answers ready: %.1f s\n' "$(echo "$up_ms / 1000" | bc -l)"
	echo
	echo "| service | image | memory, idle (replica 1) | docker start → ready |"
	echo "|---|---|---|---|"
} >"$OUT.tmp"
for s in $SERVICES; do
	c=shopmesh_${s}_1
	size=$(docker image inspect -f '{{.Size}}' "shopmesh/$s:dev")
	mem=$(docker stats --no-stream --format '{{.MemUsage}}' "$c" | cut -d/ -f1 | tr -d ' ')
	docker stop "$c" >/dev/null
	t0=$(ms)
	docker start "$c" >/dev/null
	until docker exec "$c" /app healthcheck >/dev/null 2>&1; do
		if (($(ms) - t0 > 60000)); then
			echo "bench-footprint: $c not ready a minute after start" >&2
			exit 1
		fi
		sleep 0.05
	done
	ready=$(($(ms) - t0))
	printf '| %s | %.1f MB | %s | %d ms |\n' "$s" "$(echo "$size / 1000000" | bc -l)" "$mem" "$ready" >>"$OUT.tmp"
	echo "[footprint] $s: image $((size / 1000000)) MB, idle $mem, start to ready ${ready} ms"
done
mv "$OUT.tmp" "$OUT"
echo "[footprint] results in $OUT"
