#!/usr/bin/env bash
# Builds shopmesh's Docker images without any container registry.
#
# Every image is FROM scratch and holds a static Go binary built here on the
# host (CGO_ENABLED=0), so nothing is ever pulled:
#
#   etcd       shopmesh/etcd:<pin>      deploy/etcd    (etcd server, own module)
#   otelcol    shopmesh/otelcol:<pin>   deploy/otelcol (collector, own module)
#   gateway order inventory payment shipping paysim
#              shopmesh/<name>:dev      ./<svc>/cmd/<name> in the go.work workspace
#   loadcurve  shopmesh/loadcurve:dev   ./e2e/cmd/loadcurve (make bench only; not built by default)
#
# The etcd/otelcol tags carry the versions pinned in their go.mod files. Such an
# image is skipped entirely (no go build) when its tag exists and was built
# from the same inputs (go.mod, go.sum, main.go, config, Dockerfile; recorded in
# the label org.shopmesh.inputs); --force rebuilds it anyway. Service images are
# rebuilt on every run; Go's build cache and Docker's layer cache make an
# unchanged rebuild take seconds.
#
# Usage: deploy/images.sh [--force] [IMAGE...]     (default: all images)
#
# Environment: DOCKER_BUILDKIT (default 0: the classic builder, which needs no
# buildx plugin and never contacts a registry for FROM scratch).
set -euo pipefail

DEPLOY="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(dirname "$DEPLOY")"
BUILD="$DEPLOY/.build"
BIN="$BUILD/bin"
LOGS="$BUILD/logs"
DOCKERFILES="$DEPLOY/docker"

PINNED=(etcd otelcol)
# shopmesh's own binaries, each an image from Dockerfile.service; etcdaccess
# is the one-shot that turns on etcd's access control before the services
# start.
SERVICES=(gateway order inventory payment shipping paysim etcdaccess)
# Built only when asked for by name (make bench).
TOOLS=(loadcurve)

# service_pkg NAME prints the main package of service NAME, relative to ROOT.
service_pkg() {
	case $1 in
	paysim) echo ./paysim/cmd/paysim ;;
	etcdaccess) echo ./pkg/cmd/etcdaccess ;;
	loadcurve) echo ./e2e/cmd/loadcurve ;;
	*) echo "./$1/cmd/$1" ;;
	esac
}

export DOCKER_BUILDKIT="${DOCKER_BUILDKIT:-0}"
GO_BUILD=(go build -trimpath -buildvcs=false "-ldflags=-s -w")

T0=$SECONDS
HEARTBEAT=""
trap '[[ -z "$HEARTBEAT" ]] || kill "$HEARTBEAT" 2>/dev/null || true' EXIT

say() { printf '[images %3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() {
	printf 'images.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# step LABEL LOG CMD... runs CMD with its output in LOG, prints a line before
# and after, and a "still running" line every 15s so a long first build never
# looks hung. On failure it shows the end of LOG and exits.
step() {
	local label=$1 log=$2
	shift 2
	local start=$SECONDS rc=0
	say "$label ..."
	(
		n=0
		# sleep must not hold our stdout/stderr or the lock (fd 9): killing this
		# subshell leaves it running, and a pipe reader (images.sh | tee) or the
		# next run's flock would wait for it.
		while sleep 15 >/dev/null 2>&1 9>&-; do
			kill -0 $$ 2>/dev/null || exit 0
			n=$((n + 15))
			printf '[images %3ds]   ... still %s (%ds)\n' $((SECONDS - T0)) "$label" "$n"
		done
	) 9>&- &
	HEARTBEAT=$!
	"$@" >"$log" 2>&1 9>&- || rc=$?
	kill "$HEARTBEAT" 2>/dev/null || true
	wait "$HEARTBEAT" 2>/dev/null || true
	HEARTBEAT=""
	if ((rc != 0)); then
		printf 'images.sh: error: %s failed (exit %d); last lines of %s:\n' "$label" "$rc" "$log" >&2
		tail -n 40 "$log" >&2
		exit "$rc"
	fi
	say "$label: done in $((SECONDS - start))s"
}

# in_dir DIR CMD... runs CMD in DIR.
in_dir() {
	local dir=$1
	shift
	(cd "$dir" && "$@")
}

# module_version GOMOD MODULE prints MODULE's required version in GOMOD.
module_version() {
	awk -v m="$2" '{ for (i = 1; i < NF; i++) if ($i == m) { print $(i + 1); exit } }' "$1"
}

# inputs_hash FILE... prints one hash over the names and contents of FILEs.
inputs_hash() {
	local sum=(sha256sum)
	command -v sha256sum >/dev/null 2>&1 || sum=(shasum -a 256)
	(cd "$DEPLOY" && "${sum[@]}" "$@") | "${sum[@]}" | cut -c1-16
}

# stage NAME: a fresh, minimal docker build context for NAME in .build/ctx/NAME
# (only what its Dockerfile copies, so the daemon never gets the other binaries).
stage() {
	local ctx="$BUILD/ctx/$1"
	rm -rf "$ctx"
	mkdir -p "$ctx/bin"
	ln "$BIN/$1" "$ctx/bin/$1" 2>/dev/null || cp "$BIN/$1" "$ctx/bin/$1"
	printf '%s\n' "$ctx"
}

image_size() {
	docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1e6 }'
}

# docker_build NAME TAG DOCKERFILE CONTEXT [docker build args...]
docker_build() {
	local name=$1 tag=$2 dockerfile=$3 ctx=$4
	shift 4
	step "$name: docker build $tag" "$LOGS/$name.docker.log" \
		docker build --force-rm --label "org.shopmesh.image=$name" "$@" -t "$tag" -f "$dockerfile" "$ctx"
	BUILT+=("$tag ($(image_size "$tag"))")
}

build_pinned() {
	local name=$1 mod tag inputs ctx
	case $name in
	etcd)
		mod=go.etcd.io/etcd/server/v3
		inputs=(etcd/go.mod etcd/go.sum etcd/main.go docker/Dockerfile.etcd)
		;;
	otelcol)
		mod=go.opentelemetry.io/collector/otelcol
		inputs=(otelcol/go.mod otelcol/go.sum otelcol/main.go otelcol/config.yaml docker/Dockerfile.otelcol)
		;;
	esac
	local version
	version=$(module_version "$DEPLOY/$name/go.mod" "$mod")
	[[ -n "$version" ]] || die "$name: no version of $mod in deploy/$name/go.mod"
	tag="shopmesh/$name:$version"
	local hash have
	hash=$(inputs_hash "${inputs[@]}")
	if ((!FORCE)) && have=$(docker image inspect -f '{{index .Config.Labels "org.shopmesh.inputs"}}' "$tag" 2>/dev/null); then
		if [[ "$have" == "$hash" ]]; then
			say "$name: $tag exists, skipped ($(image_size "$tag"); --force rebuilds)"
			SKIPPED+=("$tag")
			return
		fi
		say "$name: $tag exists but deploy/$name or its Dockerfile changed; rebuilding"
	fi

	say "$name: building $tag from deploy/$name (a first build downloads modules and compiles for about a minute)"
	step "$name: go build" "$LOGS/$name.go.log" \
		in_dir "$DEPLOY/$name" env GOWORK=off CGO_ENABLED=0 GOOS=linux "${GO_BUILD[@]}" -o "$BIN/$name" .
	ctx=$(stage "$name")
	# An empty /data for the image (COPY rootfs/ / keeps these modes): private
	# for etcd, which wants 0700; world-writable like /tmp for the collector.
	mkdir -p "$ctx/rootfs"
	if [[ $name == otelcol ]]; then
		mkdir -m 1777 "$ctx/rootfs/data"
		cp "$DEPLOY/otelcol/config.yaml" "$ctx/config.yaml"
	else
		mkdir -m 0700 "$ctx/rootfs/data"
	fi
	docker_build "$name" "$tag" "$DOCKERFILES/Dockerfile.$name" "$ctx" \
		--label "org.shopmesh.inputs=$hash" --label "org.opencontainers.image.version=$version"
}

build_services() {
	local name pkg ctx pkgs=()
	for name in "$@"; do
		pkg=$(service_pkg "$name")
		[[ -d "$ROOT/$pkg" ]] || die "$name: package $pkg does not exist (service not written yet?)"
		pkgs+=("$pkg")
	done
	# One go build for all requested services: they share the workspace's
	# packages, and -o DIR/ names each binary after its package directory.
	step "services: go build $*" "$LOGS/services.go.log" \
		in_dir "$ROOT" env GOWORK="$ROOT/go.work" CGO_ENABLED=0 GOOS=linux "${GO_BUILD[@]}" -o "$BIN/" "${pkgs[@]}"
	for name in "$@"; do
		ctx=$(stage "$name")
		docker_build "$name" "shopmesh/$name:dev" "$DOCKERFILES/Dockerfile.service" "$ctx" --build-arg "BIN=$name"
	done
}

# ---- arguments -------------------------------------------------------------
FORCE=0
WANT=()
for arg in "$@"; do
	case $arg in
	-h | --help)
		usage
		exit 0
		;;
	-f | --force) FORCE=1 ;;
	-*) die "unknown option $arg (see --help)" ;;
	*)
		if [[ " ${PINNED[*]} ${SERVICES[*]} ${TOOLS[*]} " != *" $arg "* ]]; then
			die "unknown image '$arg'; known: ${PINNED[*]} ${SERVICES[*]} ${TOOLS[*]}"
		fi
		[[ " ${WANT[*]-} " == *" $arg "* ]] || WANT+=("$arg")
		;;
	esac
done
((${#WANT[@]})) || WANT=("${PINNED[@]}" "${SERVICES[@]}")

# ---- prerequisites ---------------------------------------------------------
command -v go >/dev/null 2>&1 || die "'go' is not on PATH; install Go (see go.work for the version)"
command -v docker >/dev/null 2>&1 || die "'docker' is not on PATH; install the Docker CLI"
TIMEOUT=()
command -v timeout >/dev/null 2>&1 && TIMEOUT=(timeout 20)
if ! dockerr=$(${TIMEOUT[@]+"${TIMEOUT[@]}"} docker version --format '{{.Server.Version}}' 2>&1); then
	die "the Docker daemon is unreachable (is it running, and may this user use it?): ${dockerr##*$'\n'}"
fi
mkdir -p "$BIN" "$LOGS"
# One run at a time (test packages run in parallel may each call this script):
# runs share .build/ and the tags. flock is Linux-only; elsewhere, no lock.
if command -v flock >/dev/null 2>&1; then
	exec 9>"$BUILD/.lock"
	if ! flock -n 9; then
		say "another images.sh run is building; waiting for it"
		flock 9
	fi
fi
say "building: ${WANT[*]} (docker $dockerr, DOCKER_BUILDKIT=$DOCKER_BUILDKIT, logs in ${LOGS#"$ROOT"/})"

# ---- build -----------------------------------------------------------------
BUILT=()
SKIPPED=()
WANT_SERVICES=()
for name in "${WANT[@]}"; do
	case " ${PINNED[*]} " in
	*" $name "*) build_pinned "$name" ;;
	*) WANT_SERVICES+=("$name") ;;
	esac
done
((${#WANT_SERVICES[@]} == 0)) || build_services "${WANT_SERVICES[@]}"

# Drop the untagged images left behind when a tag moved to a new build (only
# images built by this script carry the label).
docker image prune -f --filter label=org.shopmesh.image >/dev/null 2>&1 || true

say "finished in $((SECONDS - T0))s"
for tag in ${BUILT[@]+"${BUILT[@]}"}; do say "  built   $tag"; done
for tag in ${SKIPPED[@]+"${SKIPPED[@]}"}; do say "  skipped $tag"; done
