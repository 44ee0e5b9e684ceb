#!/usr/bin/env bash
# Stop what start-infrastructure.sh started, by PID. Data is kept unless --purge is given.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
exec "$HDMS_PYTHON" -m hdms_tools.stack stop "$@"
