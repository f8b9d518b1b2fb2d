#!/usr/bin/env bash
# wait-ready.sh URL: waits until the gateway at URL serves the catalog, then
# prints how to place an order. Used by `make up`.
set -euo pipefail
url=${1:?usage: wait-ready.sh URL}
deadline=$((SECONDS + 180))
printf '[up] waiting for the gateway at %s ' "$url"
until curl -fsS -o /dev/null "$url/v1/products" 2>/dev/null; do
	if ((SECONDS > deadline)); then
		echo
		echo "[up] the gateway did not become ready within 180s; see 'make logs'" >&2
		exit 1
	fi
	printf '.'
	sleep 1
done
echo " ready"
cat <<MSG

shopmesh is up: $url

  The storefront:   $url/   (sign in as a demo customer; parked orders: $url/operator)

  List the catalog:
    curl -s $url/v1/products

  Place an order (a fresh Idempotency-Key per order; repeat it to retry safely):
    curl -s -X POST $url/v1/orders \\
      -H 'Content-Type: application/json' \\
      -H "Authorization: Bearer \$(make -s token)" \\
      -H "Idempotency-Key: \$(date +%s%N)" \\
      -d '{"items":[{"product_id":"p-1001","quantity":2}],"payment_token":"tok_visa"}'

  A trace:  make trace ID=<trace id>   (an order's trace_id; every log line: make logs)
  Stop:    make down
MSG
