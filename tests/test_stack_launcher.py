"""scripts/start-infrastructure.sh on a second, throwaway stack: idempotence, persistence and the
bad situations, each a clear line naming the problem and a distinct exit code."""

import os
import signal
import socket
import uuid
from pathlib import Path

import psycopg
import pytest

from hdms_tools.privatestack import PrivateStack
from tests.conftest import stack


@pytest.fixture(scope="module")
def second_stack():
    """A second private stack, started here through the launcher's command line (its output is tested)."""
    second = PrivateStack("hdms-stack2-")
    try:
        first = stack("start", env_file=second.env_file)
        assert first.returncode == 0, first.stderr
        yield second.env_file, first.stdout
    finally:
        second.stop()


@pytest.fixture
def unstarted():
    """A private stack's folder and env file, never started: the tests below break it first."""
    made = PrivateStack("hdms-t-")
    yield made
    made.stop()


def values(env_file: Path) -> dict:
    from hdms_tools.stack import read_env_file

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
def test_taken_port_names_the_port_and_variable(unstarted, taken):
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", 0))
        blocker.listen()
        port = blocker.getsockname()[1]
        env_file = unstarted.env_file
        env_file.write_text(env_file.read_text().replace(f"{taken}={unstarted.values[taken]}", f"{taken}={port}"))
        result = stack("start", env_file=env_file)
    assert result.returncode == 4
    assert f"port {port}" in result.stderr and taken in result.stderr
    assert not (unstarted.data / "postgres").exists()  # failed before starting anything


def test_missing_password_names_the_variable(unstarted):
    env_file = unstarted.env_file
    env_file.write_text(
        "\n".join(line for line in env_file.read_text().splitlines() if not line.startswith("REDIS_CACHE_PASSWORD="))
    )
    result = stack("start", env_file=env_file)
    assert result.returncode == 2
    assert "REDIS_CACHE_PASSWORD is not set" in result.stderr


def test_foreign_data_directory_is_refused_and_left_alone(unstarted):
    data = unstarted.data
    data.mkdir()
    (data / "precious.txt").write_text("keep me")
    env_file = unstarted.env_file
    result = stack("start", env_file=env_file)
    assert result.returncode == 5
    assert "not created by HDMS" in result.stderr and "HDMS_DATA_DIR" in result.stderr
    assert (data / "precious.txt").read_text() == "keep me"
    purge = stack("stop", "--purge", env_file=env_file)
    assert (data / "precious.txt").exists(), purge.stdout


def test_a_private_stack_takes_no_default_port(unstarted):
    """The bench's stack once failed with "port 9101 is already in use": it took free ports for the
    services only, so anything holding a default metrics port broke it. Every port variable is free."""
    example = values(Path(__file__).resolve().parents[1] / ".env.example")
    mine = values(unstarted.env_file)
    ports = [name for name in example if name.endswith("_PORT") and name != "POSTGRES_PORT"]
    assert len(ports) > 10, ports
    taken = [name for name in ports if mine[name] == example[name]]
    assert taken == [], taken
