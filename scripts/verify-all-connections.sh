#!/usr/bin/env bash
# Every connection of the running stack: database via PgBouncer, cache, Celery broker with a real
# task, Channels with a real WebSocket broadcast, health checks. Exit code names the first failure
# class (10 db, 11 cache, 12 broker, 13 channels, 14 health). Add --json for CI.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
exec "$HDMS_PYTHON" -m hdms_tools.verify db cache broker channels health "$@"
