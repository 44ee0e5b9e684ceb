#!/usr/bin/env bash
# Start PostgreSQL -> PgBouncer -> Redis (docker compose if an engine answers, else natively).
# Idempotent. Exit codes: 2 config, 3 missing binary, 4 port taken, 5 data dir, 6 start, 7 auth.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
exec "$HDMS_PYTHON" -m hdms_tools.stack start "$@"
