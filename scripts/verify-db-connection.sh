#!/usr/bin/env bash
# Real round-trip check of the running stack (db); see hdms_tools/verify.py. Add --json for CI.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
exec "$HDMS_PYTHON" -m hdms_tools.verify db "$@"
