"""Integration tests against the private stack `make test` started (HDMS_ENV_FILE names it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hdms_tools.envfile import render
from hdms_tools.stack import REPO, read_env_file

PY = sys.executable
SERVICES = ("user", "ticket", "communication", "file")


@pytest.fixture(scope="session")
def stack_env() -> dict[str, str]:
    path = os.environ.get("HDMS_ENV_FILE")
    if not path:
        pytest.exit("these tests run inside `make test` (HDMS_ENV_FILE names the private stack)", returncode=2)
    return read_env_file(Path(path))


@pytest.fixture(scope="session")
def run_dir(stack_env) -> Path:
    return Path(stack_env["HDMS_DATA_DIR"]) / "run"


def stack(
    *args: str, env_file: Path | None = None, extra_env: dict | None = None, timeout: int = 120
) -> subprocess.CompletedProcess:
    env = {**os.environ, **(extra_env or {})}
    if env_file:
        env["HDMS_ENV_FILE"] = str(env_file)
    return subprocess.run(
        [PY, "-m", "hdms_tools.stack", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def manage(service: str, *args: str, extra_env: dict | None = None, timeout: int = 120) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PY, "manage.py", *args],
        cwd=REPO / "services" / f"{service}-service",
        env={**os.environ, **(extra_env or {})},
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def tmp_dir():
    """A temporary directory the servers' unprivileged user can reach (pytest's tmp_path is 0700)."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix="hdms-t-", dir="/tmp"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def write_env(path: Path, overrides: dict[str, str]) -> Path:
    path.write_text(render((REPO / ".env.example").read_text(), overrides))
    return path


def db_connect(stack_env, service: str, dbname: str | None = None, **kwargs):
    """A connection as one service's own role, through PgBouncer, as the service itself connects."""
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=stack_env["PGBOUNCER_PORT"],
        dbname=dbname or f"hdms_{service}",
        user=f"hdms_{service}",
        password=stack_env[f"{service.upper()}_DB_PASSWORD"],
        connect_timeout=3,
        prepare_threshold=None,
        **kwargs,
    )


def service_url(stack_env, service: str) -> str:
    return f"http://127.0.0.1:{stack_env[f'{service.upper()}_SERVICE_PORT']}"
