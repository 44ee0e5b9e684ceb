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
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || python3 -m venv .venv
  .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.lock
  .venv/bin/pip install --quiet --disable-pip-version-check --no-deps --force-reinstall -e libs/hdms-platform -e libs/hdms-tools
  rm -f .venv/.hdms-*
  touch "$stamp"
  echo "python dependencies installed in .venv"
fi
