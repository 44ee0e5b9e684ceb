#!/bin/sh
# The upstream postgres image's contract, the part HDMS uses: on an empty PGDATA, initdb as
# POSTGRES_USER with POSTGRES_PASSWORD and POSTGRES_INITDB_ARGS, then every
# /docker-entrypoint-initdb.d/*.sh (run) and *.sql (psql) against a server that listens on its
# Unix socket only, with the server's own arguments; then exec the command.
set -eu
if [ "${1:-}" = postgres ] && [ ! -s "$PGDATA/PG_VERSION" ]; then
  : "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required to initialise an empty PGDATA}"
  export POSTGRES_USER="${POSTGRES_USER:-postgres}"
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
  # shellcheck disable=SC2086  # POSTGRES_INITDB_ARGS is a list of arguments, as upstream reads it
  initdb --username="$POSTGRES_USER" --pwfile="$pwfile" ${POSTGRES_INITDB_ARGS:-}
  rm -f "$pwfile"
  shift
  pg_ctl -D "$PGDATA" -w -o "$* -c listen_addresses=" start
  export PGPASSWORD="$POSTGRES_PASSWORD" PGUSER="$POSTGRES_USER" PGHOST=/var/run/postgresql
  for f in /docker-entrypoint-initdb.d/*; do
    case "$f" in
      *.sh) echo "initdb: running $f"; sh "$f" ;;
      *.sql) echo "initdb: running $f"; psql -v ON_ERROR_STOP=1 --dbname postgres -f "$f" ;;
      *) ;;
    esac
  done
  unset PGPASSWORD PGUSER PGHOST
  pg_ctl -D "$PGDATA" -m fast -w stop
  set -- postgres "$@"
fi
exec "$@"
