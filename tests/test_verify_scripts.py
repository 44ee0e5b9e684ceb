"""The verify scripts pass on a healthy stack and fail with the right class and a fix otherwise."""

import json
import subprocess

from hdms_tools.stack import REPO


def verify(script: str, *args: str, env: dict | None = None):
    import os

    return subprocess.run(
        ["bash", f"scripts/{script}", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, **(env or {})},
        timeout=60,
    )


def test_all_connections_json_on_a_healthy_stack():
    result = verify("verify-all-connections.sh", "--json")
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout
    assert report["ok"] is True
    groups = {c["group"] for c in report["checks"]}
    assert groups == {"db", "cache", "broker", "channels", "health"}
    assert report["seconds"] < 10


def test_database_failure_has_its_own_exit_code_and_a_fix():
    result = verify("verify-db-connection.sh", env={"PGBOUNCER_PORT": "1"})
    assert result.returncode == 10
    assert "FAILED" in result.stdout and "PGBOUNCER_PORT" in result.stdout


def test_cache_failure_has_its_own_exit_code():
    result = verify("verify-cache-connection.sh", env={"REDIS_CACHE_URL": "redis://:x@127.0.0.1:1/0"})
    assert result.returncode == 11
    assert "REDIS" in result.stdout


def test_configuration_error_is_named():
    result = verify("verify-health-checks.sh", env={"TICKET_SERVICE_PORT": "nope"})
    assert result.returncode == 2
    assert "TICKET_SERVICE_PORT" in result.stdout
