#!/bin/sh
# Compose: run once by the postgres image on an empty volume (docker-entrypoint-initdb.d).
set -eu
: "${USER_DB_PASSWORD:?USER_DB_PASSWORD is required}"
: "${TICKET_DB_PASSWORD:?TICKET_DB_PASSWORD is required}"
: "${COMMUNICATION_DB_PASSWORD:?COMMUNICATION_DB_PASSWORD is required}"
: "${FILE_DB_PASSWORD:?FILE_DB_PASSWORD is required}"
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname postgres \
  -v user_password="$USER_DB_PASSWORD" -v ticket_password="$TICKET_DB_PASSWORD" \
  -v communication_password="$COMMUNICATION_DB_PASSWORD" -v file_password="$FILE_DB_PASSWORD" \
  -f /hdms/init.sql
