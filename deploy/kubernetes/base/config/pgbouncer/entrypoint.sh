#!/bin/sh
# Compose: render pgbouncer.ini from the shared template and the userlist from the environment.
set -eu
conf=/tmp/pgbouncer
mkdir -p "$conf"
: "${PGBOUNCER_ADMIN_PASSWORD:?PGBOUNCER_ADMIN_PASSWORD is required}"
umask 077
{
  printf '"hdms_user" "%s"\n' "${USER_DB_PASSWORD:?USER_DB_PASSWORD is required}"
  printf '"hdms_ticket" "%s"\n' "${TICKET_DB_PASSWORD:?TICKET_DB_PASSWORD is required}"
  printf '"hdms_communication" "%s"\n' "${COMMUNICATION_DB_PASSWORD:?COMMUNICATION_DB_PASSWORD is required}"
  printf '"hdms_file" "%s"\n' "${FILE_DB_PASSWORD:?FILE_DB_PASSWORD is required}"
  printf '"%s" "%s"\n' "$PGBOUNCER_ADMIN_USER" "$PGBOUNCER_ADMIN_PASSWORD"
  printf '"%s" "%s"\n' "$PGBOUNCER_STATS_USER" "${PGBOUNCER_STATS_PASSWORD:?PGBOUNCER_STATS_PASSWORD is required}"
} > "$conf/userlist.txt"
sed -e "s|\${POSTGRES_HOST}|$POSTGRES_HOST|g" -e "s|\${POSTGRES_PORT}|$POSTGRES_PORT|g" \
    -e "s|\${PGBOUNCER_LISTEN_ADDR}|$PGBOUNCER_LISTEN_ADDR|g" -e "s|\${PGBOUNCER_PORT}|$PGBOUNCER_PORT|g" \
    -e "s|\${PGBOUNCER_PIDFILE}||g" -e "s|\${PGBOUNCER_LOGFILE}||g" \
    -e "s|\${PGBOUNCER_AUTH_FILE}|$conf/userlist.txt|g" -e "s|\${PGBOUNCER_ADMIN_USER}|$PGBOUNCER_ADMIN_USER|g" -e "s|\${PGBOUNCER_STATS_USER}|$PGBOUNCER_STATS_USER|g" \
    -e "s|\${PGBOUNCER_POOL_SIZE}|$PGBOUNCER_POOL_SIZE|g" -e "s|\${PGBOUNCER_MAX_CLIENT_CONN}|$PGBOUNCER_MAX_CLIENT_CONN|g" \
    -e "s|\${PGBOUNCER_MAX_DB_CONNECTIONS}|$PGBOUNCER_MAX_DB_CONNECTIONS|g" \
    /hdms/pgbouncer.ini.example > "$conf/pgbouncer.ini"
exec pgbouncer "$conf/pgbouncer.ini"
