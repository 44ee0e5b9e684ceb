#!/usr/bin/env bash
# Apply every service's migrations, through PgBouncer (session-mode entry, `migrations` alias).
set -euo pipefail
source "$(dirname "$0")/_common.sh"
for service in user ticket communication file; do
  (cd "$HDMS_ROOT/services/$service-service" && "$HDMS_PYTHON" manage.py migrate --database migrations --noinput -v 0)
  echo "migrated      $service-service"
done
