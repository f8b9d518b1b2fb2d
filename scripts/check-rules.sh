#!/usr/bin/env bash
# check-rules.sh: fails when non-test code breaks one of the seed's rules in
# a way a text search can see (DESIGN.md, "pkg/platform — the rules of the
# seed, as code"). Generated code, tests and analyzer testdata are exempt.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
files=$(git ls-files --cached --others --exclude-standard '*.go' | grep -v -e '_test\.go$' -e '\.pb\.go$' -e '^deploy/' -e '/testdata/' || true)
fail=0
check() {
	local rule=$1 pattern=$2 scope=$3
	local hits
	hits=$(echo "$scope" | xargs -r grep -HnE "$pattern" || true)
	if [ -n "$hits" ]; then
		echo "seed rule $rule broken:"
		echo "$hits" | sed 's/^/  /'
		fail=1
	fi
}
# Rule 1: no blocking or deprecated dial; connections come from grpcx.Conns.
check "1 (grpc.NewClient, never Dial/WithBlock)" 'grpc\.(Dial|DialContext)\(|grpc\.WithBlock\(' "$files"
# Rule 3: no default HTTP client; every client comes from httpclient.New.
check "3 (httpclient.New, never the default client)" 'http\.(Get|Post|Head|PostForm)\(|http\.DefaultClient|&http\.Client\{|http\.Client\{\}' \
	"$(echo "$files" | grep -v '^pkg/platform/httpclient/')"
# Rule 4: context.Background/TODO only in main packages (and the few
# platform places that start a lifetime of their own, each commented).
nonmain=$(for f in $files; do grep -q '^package main' "$f" || echo "$f"; done | grep -v -e '^pkg/platform/' || true)
check "4 (context flows from the caller)" 'context\.(Background|TODO)\(\)' "$nonmain"
# Layering (STYLE.md): a domain package (<svc>/internal/<svc>, every
# service's, a new one included) and apperr import no gRPC; grpcx maps their
# errors to statuses.
domains=$(for d in ./*/internal/*/; do d=${d%/}; [ "$(basename "$d")" = "$(basename "$(dirname "$(dirname "$d")")")" ] && echo "$d"; done)
for pkg in $domains ./pkg/platform/apperr; do
	if go list -deps "$pkg" | grep -qE '^google\.golang\.org/grpc($|/)'; then
		echo "layering broken: $pkg imports gRPC (go list -deps $pkg)"
		fail=1
	fi
done
if [ "$fail" -ne 0 ]; then exit 1; fi
echo "seed rules: ok ($(echo "$files" | wc -l) files checked)"
