#!/usr/bin/env bash
# Builds a Postgres image equivalent to the official postgres:15 image from
# Debian bookworm's packages, without any container registry:
#
#   1. debootstrap --variant=minbase --include=postgresql-15,... bookworm from
#      the Debian mirror apt already uses on this machine (read from
#      /etc/apt/sources.list and sources.list.d; DEBIAN_MIRROR overrides);
#   2. the updates from bookworm-updates and bookworm-security, when apt here
#      has those suites (DEBIAN_SECURITY_MIRROR overrides; "none" skips);
#   3. listen_addresses = '*' in postgresql.conf.sample, docs, man pages,
#      translations and apt caches dropped, docker-entrypoint.sh added;
#   4. tar | docker import with ENV/ENTRYPOINT/CMD/EXPOSE/VOLUME, then a
#      metadata-only classic docker build FROM it for STOPSIGNAL SIGINT (which
#      docker import --change does not accept) and the labels.
#
# The image honours the official image's environment contract (POSTGRES_USER,
# POSTGRES_PASSWORD, POSTGRES_DB, /docker-entrypoint-initdb.d; see
# docker-entrypoint.sh). Its tag is skipped entirely when it exists and was
# built from the same build.sh and docker-entrypoint.sh (label
# org.shopmesh.inputs); --force rebuilds it anyway. Building needs root
# (debootstrap); a cached image needs only Docker. Two runs at once are
# serialised with flock; the second one then finds the image built.
#
# Usage: deploy/postgres/build.sh [--force] [--tag TAG]   (default shopmesh/postgres:15)
#
# Logs: deploy/.build/logs/postgres.*.log
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
DEPLOY="$(dirname "$HERE")"
BUILD="$DEPLOY/.build"
LOGS="$BUILD/logs"
WORK="$BUILD/postgres"
ROOTFS="$WORK/rootfs"

SUITE=bookworm
PG_MAJOR=15
PACKAGES=("postgresql-$PG_MAJOR" tzdata)
PGBIN=/usr/lib/postgresql/$PG_MAJOR/bin

T0=$SECONDS
HEARTBEAT=""
TMP_TAG=""

say() { printf '[postgres %3ds] %s\n' $((SECONDS - T0)) "$*"; }
die() {
	printf 'postgres/build.sh: error: %s\n' "$*" >&2
	exit 1
}

usage() {
	sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

# unmount_under DIR unmounts everything mounted at or below DIR (debootstrap
# and the update step mount /proc and /sys there; an interrupted run may leave
# them), deepest first.
unmount_under() {
	local dir=$1 m
	[[ -r /proc/self/mounts ]] || return 0
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || true
	done < <(awk -v d="$dir" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# remove_rootfs deletes ROOTFS, never crossing into anything still mounted.
remove_rootfs() {
	[[ -e "$ROOTFS" ]] || return 0
	unmount_under "$ROOTFS"
	if awk -v d="$ROOTFS" 'index($2, d "/") == 1 { found = 1 } END { exit !found }' /proc/self/mounts 2>/dev/null; then
		printf 'postgres/build.sh: warning: file systems are still mounted under %s; not deleting it\n' "$ROOTFS" >&2
		return 0
	fi
	rm -rf --one-file-system "$ROOTFS"
}

cleanup() {
	[[ -z "$HEARTBEAT" ]] || kill "$HEARTBEAT" 2>/dev/null || true
	if ((EUID == 0)); then remove_rootfs; fi
	[[ -z "$TMP_TAG" ]] || docker rmi "$TMP_TAG" >/dev/null 2>&1 || true
}
trap cleanup EXIT
interrupted() {
	printf 'postgres/build.sh: interrupted (%s); cleaning up\n' "$1" >&2
	exit "$2"
}
trap 'interrupted SIGINT 130' INT
trap 'interrupted SIGTERM 143' TERM

# step LABEL LOG CMD... runs CMD (a command or a function of this script, under
# set -e) with its output in LOG, prints a line before and after, and a "still
# running" line every 15s. On failure it shows the end of LOG and exits.
step() {
	local label=$1 log=$2
	shift 2
	local start=$SECONDS rc
	say "$label ..."
	(
		n=0
		# sleep must not hold our stdout/stderr or the lock (fd 9).
		while sleep 15 >/dev/null 2>&1 9>&-; do
			kill -0 $$ 2>/dev/null || exit 0
			n=$((n + 15))
			printf '[postgres %3ds]   ... still %s (%ds)\n' $((SECONDS - T0)) "$label" "$n"
		done
	) 9>&- &
	HEARTBEAT=$!
	# Not "CMD || rc=$?": that would switch off set -e inside functions.
	set +e
	(
		set -e
		"$@"
	) >"$log" 2>&1 9>&-
	rc=$?
	set -e
	kill "$HEARTBEAT" 2>/dev/null || true
	wait "$HEARTBEAT" 2>/dev/null || true
	HEARTBEAT=""
	if ((rc != 0)); then
		printf 'postgres/build.sh: error: %s failed (exit %d); last lines of %s:\n' "$label" "$rc" "$log" >&2
		tail -n 40 "$log" >&2
		exit "$rc"
	fi
	say "$label: done in $((SECONDS - start))s"
}

# inputs_hash prints one hash over the names and contents of the build inputs.
inputs_hash() {
	(cd "$HERE" && sha256sum build.sh docker-entrypoint.sh) | sha256sum | cut -c1-16
}

image_size() {
	docker image inspect -f '{{.Size}}' "$1" | awk '{ printf "%.0f MB", $1 / 1e6 }'
}

# cached [quiet] succeeds when TAG exists and was built from these inputs
# (HASH); otherwise it says why TAG is rebuilt, unless quiet.
cached() {
	local have
	have=$(docker image inspect -f '{{index .Config.Labels "org.shopmesh.inputs"}}' "$TAG" 2>/dev/null) || return 1
	if [[ "$have" != "$HASH" ]]; then
		[[ -n "${1:-}" ]] || say "$TAG exists but deploy/postgres changed since it was built; rebuilding"
		return 1
	fi
}

# apt_sources prints "URI SUITE COMPONENT..." for every enabled deb entry of
# apt's configuration, in both the one-line and the deb822 format.
apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r "$f" ]] || continue
		sed -e 's/#.*//' -e 's/\[[^]]*\]//' "$f" | awk '$1 == "deb" && NF >= 4 { $1 = ""; sub(/^ +/, ""); print }'
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r "$f" ]] || continue
		awk '
		function flush(   nt, nu, ns, i, j, k, t, u, s) {
			if (tolower(F["enabled"]) != "no") {
				nt = split(F["types"], t, " "); nu = split(F["uris"], u, " "); ns = split(F["suites"], s, " ")
				for (i = 1; i <= nt; i++) if (t[i] == "deb")
					for (j = 1; j <= nu; j++) for (k = 1; k <= ns; k++) print u[j], s[k], F["components"]
			}
			split("", F); key = ""
		}
		/^[ \t]*#/ { next }
		/^[ \t]*$/ { flush(); next }
		/^[ \t]/ { if (key != "") F[key] = F[key] " " $0; next }
		{
			i = index($0, ":"); if (i == 0) next
			key = tolower(substr($0, 1, i - 1)); v = substr($0, i + 1)
			gsub(/^[ \t]+|[ \t]+$/, "", v); F[key] = v
		}
		END { flush() }' "$f"
	done
}

# apt_uri SUITE-PATTERN prints the first http(s) URI apt uses for a suite
# matching SUITE-PATTERN (an awk regexp) with the main component.
apt_uri() {
	apt_sources | awk -v re="^($1)\$" '
		$1 ~ /^https?:\/\// && $2 ~ re { for (i = 3; i <= NF; i++) if ($i == "main") { sub(/\/+$/, "", $1); print $1; exit } }'
}

DEBIAN_SUITES='bookworm|trixie|forky|bullseye|buster|sid|stable|testing|unstable|oldstable|oldoldstable'

find_mirrors() {
	MIRROR=${DEBIAN_MIRROR:-}
	if [[ -z "$MIRROR" ]]; then
		# The host's bookworm mirror, else its mirror for any Debian suite (a
		# Debian mirror serves them all).
		MIRROR=$(apt_uri "$SUITE")
		[[ -n "$MIRROR" ]] || MIRROR=$(apt_uri "$DEBIAN_SUITES")
		[[ -n "$MIRROR" ]] || die "no Debian mirror (a deb entry for a Debian suite with component main) in /etc/apt/sources.list or /etc/apt/sources.list.d; set DEBIAN_MIRROR to a Debian mirror's URL"
	fi
	UPDATES_MIRROR=$(apt_uri "$SUITE-updates")
	SECURITY_MIRROR=${DEBIAN_SECURITY_MIRROR:-}
	if [[ -z "$SECURITY_MIRROR" ]]; then
		SECURITY_MIRROR=$(apt_uri "$SUITE-security")
		[[ -n "$SECURITY_MIRROR" ]] || SECURITY_MIRROR=$(apt_uri "($DEBIAN_SUITES)-security")
	fi
	[[ "$SECURITY_MIRROR" != none ]] || SECURITY_MIRROR=""
	if [[ "${DEBIAN_SECURITY_MIRROR:-}" == none ]]; then UPDATES_MIRROR=""; fi
}

# Proxy for debootstrap's wget and the chroot's apt: the environment, else apt's own setting.
apt_proxy() {
	local p=""
	if [[ -z "${http_proxy:-}" ]] && command -v apt-config >/dev/null 2>&1; then
		eval "$(apt-config shell p Acquire::http::Proxy)"
		if [[ -n "$p" && "$p" != DIRECT ]]; then export http_proxy=$p; fi
	fi
	p=""
	if [[ -z "${https_proxy:-}" ]] && command -v apt-config >/dev/null 2>&1; then
		eval "$(apt-config shell p Acquire::https::Proxy)"
		if [[ -n "$p" && "$p" != DIRECT ]]; then export https_proxy=$p; fi
	fi
}

install_debootstrap() {
	export DEBIAN_FRONTEND=noninteractive
	apt-get update
	apt-get install -y --no-install-recommends debootstrap
}

run_debootstrap() {
	mkdir -p "$WORK/debs"
	debootstrap --variant=minbase --components=main --cache-dir="$WORK/debs" \
		--include="$(IFS=,; echo "${PACKAGES[*]}")" "$SUITE" "$ROOTFS" "$MIRROR"
}

in_root() { chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
	DEBIAN_FRONTEND=noninteractive ${http_proxy:+http_proxy=$http_proxy} ${https_proxy:+https_proxy=$https_proxy} "$@"; }

# prepare_root: no cluster of Debian's own, no docs in later package installs.
prepare_root() {
	rm -rf "$ROOTFS/etc/postgresql/$PG_MAJOR/main" "$ROOTFS/var/lib/postgresql/$PG_MAJOR"
	mkdir -p "$ROOTFS/etc/postgresql-common/createcluster.d"
	echo 'create_main_cluster = false' >"$ROOTFS/etc/postgresql-common/createcluster.d/shopmesh.conf"
	cat >"$ROOTFS/etc/dpkg/dpkg.cfg.d/shopmesh-excludes" <<-'EOF'
		# shopmesh/postgres: no docs, man pages or translations
		path-exclude=/usr/share/doc/*
		path-include=/usr/share/doc/*/copyright
		path-exclude=/usr/share/man/*
		path-exclude=/usr/share/info/*
		path-exclude=/usr/share/locale/*
	EOF
	# (Not /usr/share/postgresql/*/man: postgresql-client's postinst registers
	# those pages with update-alternatives and fails when they are missing.)
	# Services are never started while building.
	printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d"
	chmod 0755 "$ROOTFS/usr/sbin/policy-rc.d"
}

# update_root installs bookworm-updates and bookworm-security into the root.
update_root() {
	{
		echo "deb $MIRROR $SUITE main"
		[[ -z "$UPDATES_MIRROR" ]] || echo "deb $UPDATES_MIRROR $SUITE-updates main"
		echo "deb $SECURITY_MIRROR $SUITE-security main"
	} >"$ROOTFS/etc/apt/sources.list"
	cat "$ROOTFS/etc/apt/sources.list"
	mount -t proc proc "$ROOTFS/proc"
	local rc=0
	{
		in_root apt-get update &&
			in_root apt-get -y -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold upgrade
	} || rc=$?
	umount "$ROOTFS/proc" || umount -l "$ROOTFS/proc"
	return "$rc"
}

# configure_root gives the root the official image's layout and trims it.
configure_root() {
	local r=$ROOTFS
	# Listen on all addresses, as the official image (the entrypoint's
	# temporary server overrides this with listen_addresses='').
	sed -ri "s!^#?(listen_addresses)\s*=\s*\S+.*!\1 = '*'!" "$r/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
	grep -F "listen_addresses = '*'" "$r/usr/share/postgresql/$PG_MAJOR/postgresql.conf.sample"
	in_root sh -eu -c '
		mkdir -p /var/run/postgresql /var/lib/postgresql/data /docker-entrypoint-initdb.d
		chown postgres:postgres /var/run/postgresql /var/lib/postgresql /var/lib/postgresql/data
		chmod 3777 /var/run/postgresql
		chmod 0700 /var/lib/postgresql/data
		id postgres'
	install -m 0755 "$HERE/docker-entrypoint.sh" "$r/usr/local/bin/docker-entrypoint.sh"

	rm -f "$r/usr/sbin/policy-rc.d"
	in_root apt-get clean
	rm -rf "$r"/var/lib/apt/lists/* "$r"/var/cache/apt/* "$r"/var/cache/debconf/*-old \
		"$r"/var/lib/dpkg/*-old "$r"/tmp/* "$r"/var/tmp/*
	find "$r/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
	find "$r/usr/share/doc" -mindepth 1 -type d -empty -delete
	rm -rf "$r"/usr/share/man/* "$r"/usr/share/info/* "$r"/usr/share/locale/* \
		"$r"/usr/share/postgresql/*/man "$r"/usr/share/lintian "$r"/usr/share/linda
	# Package installs in derived images create man links there.
	mkdir -p "$r"/usr/share/man/man{1..8}
	find "$r/var/log" -type f -exec truncate -s 0 '{}' +
	# The build host's name and resolver (docker provides its own at run time).
	: >"$r/etc/resolv.conf"
	: >"$r/etc/hostname"
	[[ -d "$r/usr/lib/locale/C.utf8" ]] || {
		echo "C.UTF-8 locale missing in the root" >&2
		return 1
	}
	in_root "$PGBIN/postgres" --version
	# shellcheck disable=SC2016 # dpkg-query's format, not ours
	in_root dpkg-query -W -f '${Version}\n' "postgresql-$PG_MAJOR" >"$WORK/version"
	du -sh "$r"
}

import_root() {
	tar --numeric-owner -C "$ROOTFS" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -cf - . |
		docker import \
			--change "ENV PATH=/usr/local/sbin:/usr/local/bin:$PGBIN:/usr/sbin:/usr/bin:/sbin:/bin" \
			--change "ENV LANG=C.UTF-8" \
			--change "ENV PG_MAJOR=$PG_MAJOR" \
			--change "ENV PGDATA=/var/lib/postgresql/data" \
			--change 'VOLUME /var/lib/postgresql/data' \
			--change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
			--change 'CMD ["postgres"]' \
			--change 'EXPOSE 5432' \
			--change 'LABEL org.shopmesh.image=postgres' \
			--message "shopmesh/postgres: Debian $SUITE postgresql-$PG_MAJOR" \
			- "$TMP_TAG"
}

finish_image() {
	# The classic builder (no buildx needed) uses the local FROM image; no pull.
	printf '%s\n' "FROM $TMP_TAG" 'STOPSIGNAL SIGINT' \
		"LABEL org.shopmesh.inputs=\"$HASH\" org.opencontainers.image.version=\"$VERSION\" org.opencontainers.image.description=\"PostgreSQL $PG_MAJOR from Debian $SUITE packages (deploy/postgres/build.sh)\"" |
		DOCKER_BUILDKIT=0 docker build --force-rm -t "$TAG" -
}

# ---- arguments -------------------------------------------------------------
FORCE=0
TAG=shopmesh/postgres:15
while (($#)); do
	case $1 in
	-h | --help)
		usage
		exit 0
		;;
	-f | --force) FORCE=1 ;;
	-t | --tag)
		[[ $# -ge 2 && -n "$2" ]] || die "--tag needs a value"
		TAG=$2
		shift
		;;
	--tag=*) TAG=${1#--tag=} ;;
	*) die "unknown argument '$1' (see --help)" ;;
	esac
	shift
done
[[ "$TAG" == *:* ]] || TAG="$TAG:latest"

# ---- prerequisites ---------------------------------------------------------
command -v docker >/dev/null 2>&1 || die "'docker' is not on PATH; install the Docker CLI"
TIMEOUT=()
command -v timeout >/dev/null 2>&1 && TIMEOUT=(timeout 20)
if ! dockerr=$(${TIMEOUT[@]+"${TIMEOUT[@]}"} docker version --format '{{.Server.Version}}' 2>&1); then
	die "the Docker daemon is unreachable (is it running, and may this user use it?): ${dockerr##*$'\n'}"
fi
HASH=$(inputs_hash)
if ((!FORCE)) && cached; then
	say "$TAG exists, skipped ($(image_size "$TAG"); --force rebuilds)"
	exit 0
fi

if ((EUID != 0)); then
	die "building $TAG needs root: debootstrap creates a Debian root file system owned by several users.
  Run it as root (e.g. sudo $0), or set POSTGRES_IMAGE to an image you can pull (e.g. postgres:15)."
fi
[[ "$(uname -s)" == Linux ]] || die "building $TAG needs Linux (debootstrap, chroot)"
mkdir -p "$LOGS" "$WORK"
if command -v flock >/dev/null 2>&1; then
	exec 9>"$WORK/.lock"
	if ! flock -n 9; then
		say "another build.sh run is building; waiting for it"
		flock 9
	fi
	# The other run may just have built it.
	if ((!FORCE)) && cached quiet; then
		say "$TAG exists, skipped ($(image_size "$TAG"))"
		exit 0
	fi
fi
TMP_TAG="shopmesh/postgres-rootfs:$HASH"

say "building $TAG from Debian $SUITE postgresql-$PG_MAJOR (docker $dockerr; about a minute; logs in ${LOGS#"$(dirname "$DEPLOY")"/})"
if ! command -v debootstrap >/dev/null 2>&1 || [[ ! -e /usr/share/debootstrap/scripts/$SUITE ]]; then
	command -v apt-get >/dev/null 2>&1 || die "debootstrap is missing and there is no apt-get to install it; install debootstrap (with the $SUITE script)"
	step "installing debootstrap (apt-get)" "$LOGS/postgres.apt.log" install_debootstrap
fi
find_mirrors
apt_proxy
updates="none (no $SUITE-security in apt's sources, or DEBIAN_SECURITY_MIRROR=none)"
[[ -z "$SECURITY_MIRROR" ]] || updates="$SECURITY_MIRROR $SUITE-security${UPDATES_MIRROR:+, $UPDATES_MIRROR $SUITE-updates}"
say "Debian mirror: $MIRROR $SUITE; updates: $updates"

remove_rootfs # leftovers of an interrupted run
step "debootstrap $SUITE + ${PACKAGES[*]}" "$LOGS/postgres.debootstrap.log" run_debootstrap
step "preparing the root" "$LOGS/postgres.prepare.log" prepare_root
if [[ -n "$SECURITY_MIRROR" ]]; then
	step "installing $SUITE-security/-updates" "$LOGS/postgres.update.log" update_root
fi
step "configuring and trimming the root" "$LOGS/postgres.configure.log" configure_root
VERSION=$(<"$WORK/version")
say "postgresql-$PG_MAJOR $VERSION, root $(du -sh "$ROOTFS" | cut -f1)"
step "docker import" "$LOGS/postgres.import.log" import_root
step "docker build (STOPSIGNAL, labels) $TAG" "$LOGS/postgres.finish.log" finish_image
docker rmi "$TMP_TAG" >/dev/null
TMP_TAG=""
remove_rootfs
# The image this tag named before, if any (only this script's images carry the label).
docker image prune -f --filter label=org.shopmesh.image=postgres >/dev/null 2>&1 || true
say "finished in $((SECONDS - T0))s: $TAG ($(image_size "$TAG"), postgresql-$PG_MAJOR $VERSION)"
