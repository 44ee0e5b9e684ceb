# Sourced by the scripts in this folder: repo root, the Python to use, and PYTHONPATH for the
# standard-library-only launcher in libs/hdms-tools (it runs before the virtualenv exists).
HDMS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export PYTHONPATH="$HDMS_ROOT/libs/hdms-platform/src:$HDMS_ROOT/libs/hdms-tools/src${PYTHONPATH:+:$PYTHONPATH}"
if [ -x "$HDMS_ROOT/.venv/bin/python" ]; then HDMS_PYTHON="$HDMS_ROOT/.venv/bin/python"; else HDMS_PYTHON="$(command -v python3)"; fi
