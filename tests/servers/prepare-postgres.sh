#!/usr/bin/env bash
# A throwaway PostgreSQL cluster on 127.0.0.1 for the tests of Dagster's production storage.
# Installs PostgreSQL with apt-get if it is missing, initialises the cluster once, starts it if it
# is not running, makes sure the test role and database exist, and prints the URL the tests read
# (CALBACK_TEST_POSTGRES_URL). Idempotent: when the server is already up it only checks.
set -euo pipefail

PORT="${CALBACK_TEST_POSTGRES_PORT:-55432}"
ROOT="${CALBACK_TEST_POSTGRES_DIR:-/tmp/calback-test-postgres}"
ROLE=calback
PASSWORD=calback
DATABASE=calback_test
DATA="$ROOT/data"
LOG="$ROOT/server.log"

pg_bindir() {
    # Debian keeps the server binaries out of PATH; take the newest installed major version.
    local dir
    dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -n "$dir" ] && [ -x "$dir/initdb" ] && [ -x "$dir/pg_ctl" ]; then
        echo "$dir"
    elif command -v initdb >/dev/null && command -v pg_ctl >/dev/null; then
        dirname "$(command -v initdb)"
    fi
}

install_postgres() {
    if [ "$(id -u)" != 0 ]; then
        echo "PostgreSQL is not installed and this is not root: run 'apt-get install postgresql'" \
            "as root (or run this script as root)." >&2
        exit 1
    fi
    echo "Installing PostgreSQL with apt-get ..."
    # The tests bring their own cluster: keep the package from creating and starting one on 5432.
    mkdir -p /etc/postgresql-common/createcluster.d
    echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/calback-tests.conf
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends postgresql >/dev/null
}

# initdb and the server refuse to run as root: as root, run them as the `postgres` system user
# the Debian package creates.
as_server_user() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

BIN=$(pg_bindir)
if [ -z "$BIN" ]; then
    install_postgres
    BIN=$(pg_bindir)
    [ -n "$BIN" ] || { echo "PostgreSQL installed but initdb/pg_ctl not found" >&2; exit 1; }
fi
SUPERUSER=$([ "$(id -u)" = 0 ] && echo postgres || id -un)

if [ ! -s "$DATA/PG_VERSION" ]; then
    mkdir -p "$ROOT"
    if [ "$(id -u)" = 0 ]; then
        chown postgres: "$ROOT"
    fi
    as_server_user "$BIN/initdb" -D "$DATA" -U "$SUPERUSER" --auth-local=trust \
        --auth-host=scram-sha-256 --encoding=UTF8 --no-locale >/dev/null
    cat >>"$DATA/postgresql.conf" <<EOF
# calback test cluster: loopback only, its own socket directory, no durability (throwaway data).
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$ROOT'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
# A server on local time, unlike Dagster's UTC: the deploy config must make its sessions UTC.
timezone = 'Asia/Seoul'
EOF
fi

if ! as_server_user "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    if ! as_server_user "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 30 start >/dev/null; then
        echo "PostgreSQL did not start; the end of $LOG:" >&2
        tail -n 20 "$LOG" >&2
        exit 1
    fi
fi

psql_admin() {
    as_server_user "$BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$ROOT" -p "$PORT" -U "$SUPERUSER" \
        -d postgres "$@"
}
# CREATEDB: each test creates and drops a database of its own, so parallel workers never meet.
if [ -z "$(psql_admin -tAc "select 1 from pg_roles where rolname = '$ROLE'")" ]; then
    psql_admin -c "create role $ROLE login createdb password '$PASSWORD'"
fi
if [ -z "$(psql_admin -tAc "select 1 from pg_database where datname = '$DATABASE'")" ]; then
    psql_admin -c "create database $DATABASE owner $ROLE"
fi

echo "PostgreSQL ready: postgresql://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DATABASE"
