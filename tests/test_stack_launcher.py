"""scripts/start-infrastructure.sh on a second, throwaway stack: idempotence, persistence and the
bad situations, each a clear line naming the problem and a distinct exit code."""

import os
import signal
import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from hdms_platform.testrun import free_ports
from tests.conftest import stack, write_env


@pytest.fixture(scope="module")
def second_stack():
    import shutil
    import tempfile

    root = Path(tempfile.mkdtemp(prefix="hdms-stack2-", dir="/tmp"))
    root.chmod(0o755)
    pgb, rds, gw = free_ports(3)
    env_file = write_env(
        root / "env",
        {
            "HDMS_DATA_DIR": str(root / "data"),
            "HDMS_STACK_MODE": "native",
            "PGBOUNCER_PORT": str(pgb),
            "REDIS_PORT": str(rds),
            "GATEWAY_PORT": str(gw),
        },
    )
    first = stack("start", env_file=env_file)
    assert first.returncode == 0, first.stderr
    yield env_file, first.stdout
    stack("stop", "--purge", env_file=env_file)
    shutil.rmtree(root, ignore_errors=True)


def values(env_file: Path) -> dict:
    from hdms_platform.stack import read_env_file

    return read_env_file(env_file)


def test_start_reports_each_step_in_order_with_timing(second_stack):
    _, output = second_stack
    lines = [line.split() for line in output.splitlines()]
    names = [words[0] for words in lines]
    order = [names.index(n) for n in ("postgres", "pgbouncer", "redis", "gateway")]
    assert order == sorted(order), output
    for words in lines:
        assert any(w.endswith("s") and w[:-1].replace(".", "").isdigit() for w in words), words


def test_second_start_is_idempotent(second_stack):
    env_file, _ = second_stack
    again = stack("start", env_file=env_file)
    assert again.returncode == 0, again.stderr
    for server in ("postgres", "pgbouncer", "redis", "gateway"):
        assert any(line.startswith(server) and "already up" in line for line in again.stdout.splitlines()), again.stdout
    assert "started" not in again.stdout and "databases ready" not in again.stdout


def test_data_survives_stop_and_start(second_stack):
    env_file, _ = second_stack
    env = values(env_file)
    marker = uuid.uuid4().hex

    def connect():
        return psycopg.connect(
            host="127.0.0.1",
            port=env["PGBOUNCER_PORT"],
            dbname="hdms_user_session",
            user="hdms_user",
            password=env["USER_DB_PASSWORD"],
            connect_timeout=3,
        )

    with connect() as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS survival (v text)")
        conn.execute("INSERT INTO survival VALUES (%s)", [marker])
    assert stack("stop", env_file=env_file).returncode == 0
    assert stack("start", env_file=env_file).returncode == 0
    with connect() as conn:
        assert conn.execute("SELECT count(*) FROM survival WHERE v = %s", [marker]).fetchone()[0] == 1


def test_stale_pidfile_after_a_crash_is_cleaned_and_restarted(second_stack):
    env_file, _ = second_stack
    pidfile = Path(values(env_file)["HDMS_DATA_DIR"]) / "run" / "pgbouncer.pid"
    pid = int(pidfile.read_text())
    os.kill(pid, signal.SIGKILL)
    import time

    time.sleep(0.3)
    pidfile.write_text(str(pid))  # a crash leaves the pidfile behind
    result = stack("start", env_file=env_file)
    assert result.returncode == 0, result.stderr
    assert "stale pidfile" in result.stdout
    assert int(pidfile.read_text()) != pid


@pytest.mark.parametrize("taken", ["PGBOUNCER_PORT", "GATEWAY_PORT"])
def test_taken_port_names_the_port_and_variable(tmp_dir, taken):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        ports = dict(zip(("PGBOUNCER_PORT", "REDIS_PORT", "GATEWAY_PORT"), map(str, free_ports(3)), strict=True))
        env_file = write_env(
            tmp_dir / "env",
            {"HDMS_DATA_DIR": str(tmp_dir / "data"), "HDMS_STACK_MODE": "native", **ports, taken: str(port)},
        )
        result = stack("start", env_file=env_file)
    assert result.returncode == 4
    assert f"port {port}" in result.stderr and taken in result.stderr
    assert not (tmp_dir / "data" / "postgres").exists()  # failed before starting anything


def test_missing_password_names_the_variable(tmp_dir):
    env_file = write_env(tmp_dir / "env", {"HDMS_DATA_DIR": str(tmp_dir / "data"), "HDMS_STACK_MODE": "native"})
    env_file.write_text(
        "\n".join(line for line in env_file.read_text().splitlines() if not line.startswith("REDIS_CACHE_PASSWORD="))
    )
    result = stack("start", env_file=env_file)
    assert result.returncode == 2
    assert "REDIS_CACHE_PASSWORD is not set" in result.stderr


def test_foreign_data_directory_is_refused_and_left_alone(tmp_dir):
    data = tmp_dir / "data"
    data.mkdir()
    (data / "precious.txt").write_text("keep me")
    pgb, rds, gw = free_ports(3)
    env_file = write_env(
        tmp_dir / "env",
        {
            "HDMS_DATA_DIR": str(data),
            "HDMS_STACK_MODE": "native",
            "PGBOUNCER_PORT": str(pgb),
            "REDIS_PORT": str(rds),
            "GATEWAY_PORT": str(gw),
        },
    )
    result = stack("start", env_file=env_file)
    assert result.returncode == 5
    assert "not created by HDMS" in result.stderr and "HDMS_DATA_DIR" in result.stderr
    assert (data / "precious.txt").read_text() == "keep me"
    purge = stack("stop", "--purge", env_file=env_file)
    assert (data / "precious.txt").exists(), purge.stdout
