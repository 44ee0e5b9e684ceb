#!/usr/bin/env bash
# Install what HDMS needs on a fresh machine: the servers from Debian's packages (as root; apt is
# kept from auto-starting them) and the pinned Python dependencies in .venv. Idempotent and quick
# when nothing changed.
set -euo pipefail
source "$(dirname "$0")/_common.sh"
cd "$HDMS_ROOT"

python3 -m hdms_tools.stack install
for tool in openssl curl; do
  command -v "$tool" >/dev/null || { echo "error: $tool is missing: apt-get install -y $tool" >&2; exit 3; }
done

stamp=".venv/.hdms-$(cat requirements.lock libs/hdms-platform/pyproject.toml libs/hdms-tools/pyproject.toml | sha256sum | cut -c1-16)"
# As root, `make up` runs every program as the stack's unprivileged user (HDMS_RUN_AS), so .venv's
# interpreter must be one any user may run: Debian's, not a copy under /root (pyenv's shims).
python=python3
if [ "$(id -u)" = 0 ]; then
  [ -x /usr/bin/python3 ] && python=/usr/bin/python3
  if [ -e .venv/bin/python ] && ! runuser -u nobody -- .venv/bin/python -c '' 2>/dev/null; then
    echo ".venv's interpreter ($(readlink -f .venv/bin/python)) cannot be run by an unprivileged user: rebuilding .venv with $python"
    rm -rf .venv
  fi
fi
if [ ! -f "$stamp" ] || [ ! -x .venv/bin/python ]; then
  [ -x .venv/bin/python ] || "$python" -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall -e libs/hdms-platform -e libs/hdms-tools
  rm -f .venv/.hdms-*
  touch "$stamp"
  echo "python dependencies installed in .venv"
fi
