#!/usr/bin/env bash
# Entrypoint of shopmesh/postgres (built by deploy/postgres/build.sh): the
# official postgres image's contract, as far as shopmesh needs it.
#
#   POSTGRES_PASSWORD          superuser password; required unless
#                              POSTGRES_HOST_AUTH_METHOD=trust
#   POSTGRES_USER              superuser name (default postgres)
#   POSTGRES_DB                database created at initialisation (default: the user)
#   POSTGRES_HOST_AUTH_METHOD  auth for TCP connections (default scram-sha-256)
#   POSTGRES_INITDB_ARGS       extra initdb arguments (split on blanks, no quoting)
#   *_FILE                     POSTGRES_PASSWORD_FILE, POSTGRES_USER_FILE and
#                              POSTGRES_DB_FILE read the value from a file
#   PGDATA                     data directory (default /var/lib/postgresql/data)
#   PGPORT                     port (default 5432)
#
# On first start (PGDATA has no PG_VERSION) it runs initdb as the postgres
# user, starts a temporary server that listens only on the unix socket, creates
# POSTGRES_DB, runs /docker-entrypoint-initdb.d/*.sh (executable: run, else
# sourced), *.sql and *.sql.gz with psql -v ON_ERROR_STOP=1 against
# POSTGRES_DB, stops the temporary server, then execs the real server, which
# listens on '*' (postgresql.conf.sample is edited at build time). Both servers
# log "database system is ready to accept connections", so a first start logs
# it twice and a restart with existing data once, as the official image does.
#
# Started as root, it fixes the ownership of PGDATA and /var/run/postgresql and
# re-executes itself as postgres (setpriv from util-linux; no gosu). Started as
# another user, that user must have a passwd entry and own PGDATA.
# Any command other than postgres (or flags, which mean "postgres FLAGS") runs
# as given.
set -Eeo pipefail

log() { printf 'docker-entrypoint: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# file_env VAR [DEFAULT] exports VAR from VAR, or from the file named by
# VAR_FILE, or DEFAULT.
file_env() {
	local var=$1 fvar="${1}_FILE" val=${2:-}
	if [[ -n "${!var:-}" && -n "${!fvar:-}" ]]; then
		die "both $var and $fvar are set (but are exclusive)"
	fi
	if [[ -n "${!var:-}" ]]; then
		val=${!var}
	elif [[ -n "${!fvar:-}" ]]; then
		val=$(<"${!fvar}")
	fi
	export "$var=$val"
	unset "$fvar"
}

# psql_init ARGS... runs psql against the temporary server (unix socket).
psql_init() {
	PGHOST='' PGHOSTADDR='' psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password \
		--username "$POSTGRES_USER" "$@"
}

# temp_server_start POSTGRES-ARGS... starts a server for initialisation that
# accepts only unix-socket connections, with the user's server arguments.
temp_server_start() {
	[[ "${1:-}" != postgres ]] || shift
	set -- "$@" -c listen_addresses='' -p "${PGPORT:-5432}"
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -o "$(printf '%q ' "$@")" -w start
}

temp_server_stop() {
	PGUSER="${PGUSER:-$POSTGRES_USER}" pg_ctl -D "$PGDATA" -m fast -w stop
}

run_init_files() {
	local f
	shopt -s nullglob
	for f in /docker-entrypoint-initdb.d/*; do
		case $f in
		*.sh)
			if [[ -x $f ]]; then
				log "running $f"
				"$f"
			else
				log "sourcing $f"
				# shellcheck disable=SC1090
				. "$f"
			fi
			;;
		*.sql)
			log "running $f"
			psql_init --dbname "$POSTGRES_DB" -f "$f"
			;;
		*.sql.gz)
			log "running $f"
			gzip -dc "$f" | psql_init --dbname "$POSTGRES_DB"
			;;
		*) log "ignoring $f (not .sh, .sql or .sql.gz)" ;;
		esac
	done
	shopt -u nullglob
}

# init_db POSTGRES-ARGS...: initdb, POSTGRES_DB and the init files.
init_db() {
	file_env POSTGRES_PASSWORD
	file_env POSTGRES_USER postgres
	file_env POSTGRES_DB "$POSTGRES_USER"
	local auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
	if [[ -z "$POSTGRES_PASSWORD" && "$auth" != trust ]]; then
		die "the database is uninitialized and no superuser password is set.
  Set POSTGRES_PASSWORD to a non-empty value (or POSTGRES_PASSWORD_FILE to a file
  holding it), or POSTGRES_HOST_AUTH_METHOD=trust to allow every connection
  without a password (not recommended)."
	fi
	if [[ "$auth" == trust ]]; then
		log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every TCP connection is accepted without a password"
	fi

	# The password reaches initdb on stdin, never on a command line.
	local args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$auth")
	[[ -z "$POSTGRES_PASSWORD" ]] || args+=(--pwfile=/dev/stdin)
	local extra=()
	[[ -z "${POSTGRES_INITDB_ARGS:-}" ]] || read -r -a extra <<<"$POSTGRES_INITDB_ARGS"
	log "initialising $PGDATA (superuser $POSTGRES_USER, database $POSTGRES_DB, host auth $auth)"
	printf '%s\n' "$POSTGRES_PASSWORD" | initdb "${args[@]}" ${extra[@]+"${extra[@]}"}
	printf '\nhost all all all %s\n' "$auth" >>"$PGDATA/pg_hba.conf"

	export PGPASSWORD="${PGPASSWORD:-$POSTGRES_PASSWORD}"
	temp_server_start "$@"
	if [[ "$POSTGRES_DB" != postgres ]]; then
		local exists
		exists=$(psql_init --dbname postgres -tA --set db="$POSTGRES_DB" <<<"SELECT 1 FROM pg_database WHERE datname = :'db';")
		if [[ "$exists" != 1 ]]; then
			log "creating database $POSTGRES_DB"
			psql_init --dbname postgres --set db="$POSTGRES_DB" <<<'CREATE DATABASE :"db";' >/dev/null
		fi
	fi
	PGUSER="${PGUSER:-$POSTGRES_USER}" run_init_files
	temp_server_stop
	unset PGPASSWORD
	log "PostgreSQL init process complete; ready for start up."
}

if [[ "${1:0:1}" == - ]]; then
	set -- postgres "$@"
fi
if [[ "${1:-}" != postgres ]]; then
	exec "$@"
fi

export PGDATA="${PGDATA:-/var/lib/postgresql/data}"

if [[ "$(id -u)" == 0 ]]; then
	mkdir -p "$PGDATA" /var/run/postgresql
	chmod 0700 "$PGDATA" || :
	find "$PGDATA" \! -user postgres -exec chown postgres:postgres '{}' +
	chown postgres:postgres /var/run/postgresql
	chmod 3777 /var/run/postgresql
	exec setpriv --reuid=postgres --regid=postgres --init-groups "$(readlink -f "${BASH_SOURCE[0]}")" "$@"
fi

if [[ -s "$PGDATA/PG_VERSION" ]]; then
	log "$PGDATA holds a database (PostgreSQL $(<"$PGDATA/PG_VERSION")); skipping initialisation"
else
	mkdir -p "$PGDATA"
	chmod 0700 "$PGDATA" 2>/dev/null || :
	init_db "$@"
fi

exec "$@"
