"""Supervision natively (supervisord): a program that dies comes back by itself; `make status`
shows each program's state and uptime; every program's log is set to rotate (the rotation itself is
supervisord's, not exercised here)."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from hdms_tools.processes import BACKGROUND, SERVICES
from hdms_tools.stack import REPO, read_pid

from .conftest import PY, service_url


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _status() -> subprocess.CompletedProcess:
    return subprocess.run([PY, "-m", "hdms_tools.processes", "status"], cwd=REPO, capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize("service", ["ticket", "communication"])  # gunicorn's master, uvicorn's
def test_a_sigkilled_service_master_answers_again_within_10s_without_any_command(stack_env, run_dir, service):
    url = f"{service_url(stack_env, service)}/health/live"
    master = read_pid(run_dir / f"{service}.pid")
    assert master and _answers(url)

    os.kill(master, signal.SIGKILL)  # the master alone: its workers are orphaned, still holding the port
    killed = time.monotonic()
    deadline = killed + 10
    while time.monotonic() < deadline:
        new = read_pid(run_dir / f"{service}.pid")
        if new != master and _answers(url):
            break
        time.sleep(0.1)
    else:
        pytest.fail(f"{service}-service did not answer again within 10 s of its master's SIGKILL")
    assert not os.path.exists(f"/proc/{master}"), "the old master is still there"
    lines = {line.split()[0]: line for line in _status().stdout.splitlines()}
    assert "RUNNING" in lines[service] and f"pid {new}," in lines[service] and "uptime 0:00:" in lines[service]


def test_status_lists_every_program_with_state_pid_and_uptime(stack_env):
    result = _status()
    assert result.returncode == 0, result.stdout + result.stderr
    states = {line.split()[0]: line.split()[1] for line in result.stdout.splitlines()}
    for program in (*SERVICES, *BACKGROUND):  # the services, the four workers, beat, the two relays
        assert states[program] == "RUNNING", result.stdout
    assert all("uptime" in line for line in result.stdout.splitlines() if "RUNNING" in line)


def test_supervisord_holds_no_secret_and_is_set_to_rotate_every_programs_log(stack_env, run_dir):
    supervisord = read_pid(run_dir / "supervisord.pid")
    environ = Path(f"/proc/{supervisord}/environ").read_bytes().decode()
    assert "PASSWORD" not in environ and "SECRET" not in environ and stack_env["TICKET_DB_PASSWORD"] not in environ
    conf = (run_dir / "supervisord.conf").read_text()
    assert conf.count("stdout_logfile_maxbytes=") == conf.count("[program:") >= 8
    assert conf.count("autorestart=true") == conf.count("[program:")
