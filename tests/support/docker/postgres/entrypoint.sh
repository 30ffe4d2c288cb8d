#!/usr/bin/env bash
# A small stand-in for the official postgres image's docker-entrypoint.sh: on an empty PGDATA, initdb with
# POSTGRES_USER as superuser and POSTGRES_PASSWORD (through a 0600 file, never argv), scram-sha-256 for TCP,
# create POSTGRES_DB; then run the server as user postgres on 127.0.0.1:$PGPORT.
set -euo pipefail

: "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required, as in the official image}"
user=${POSTGRES_USER:-postgres}
database=${POSTGRES_DB:-$user}

mkdir -p "$PGDATA" /run/postgresql
chown postgres:postgres "$PGDATA" /run/postgresql
chmod 0700 "$PGDATA"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    pwfile=$(mktemp)
    chown postgres "$pwfile"
    chmod 0600 "$pwfile"
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
        initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    setpriv --reuid=postgres --regid=postgres --init-groups \
        pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -p $PGPORT" -w start >/dev/null
    if [ "$database" != postgres ]; then
        setpriv --reuid=postgres --regid=postgres --init-groups \
            psql -v ON_ERROR_STOP=1 -p "$PGPORT" -U "$user" -d postgres -q \
            -c "CREATE DATABASE \"$database\""
    fi
    setpriv --reuid=postgres --regid=postgres --init-groups pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
fi

if [ "${1:-}" = postgres ]; then
    shift
    exec setpriv --reuid=postgres --regid=postgres --init-groups \
        postgres -D "$PGDATA" -c listen_addresses=127.0.0.1 -p "$PGPORT" "$@"
fi
exec "$@"
