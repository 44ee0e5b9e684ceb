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

from hdms_tools.programs import BACKGROUND
from hdms_tools.stack import REPO, SERVICES, read_pid
from hdms_tools.supervise import client as supervise_client

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


def _uids(pid: int) -> set[int]:
    """The real, effective, saved and filesystem uids of a process (/proc/PID/status)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return {int(uid) for uid in line.split()[1:]}
    raise AssertionError(f"no Uid line for pid {pid}")


def _process_groups(pgids: set[int]) -> dict[int, str]:
    """Every live process in these process groups: pid -> command line."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode().strip()
        except OSError:
            continue  # ended while we looked
        if int(stat.rsplit(")", 1)[1].split()[2]) in pgids:
            found[int(entry.name)] = cmdline
    return found


def test_no_hdms_program_runs_as_root(stack_env, run_dir):
    """supervisord, every program it runs and every child of theirs (gunicorn's and uvicorn's workers,
    Celery's pool, the image-decoding worker included) run as the stack's unprivileged user."""
    supervisord = read_pid(run_dir / "supervisord.pid")
    programs = supervise_client(run_dir.parent).supervisor.getAllProcessInfo()
    pgids = {info["pid"] for info in programs if info["pid"]} | {supervisord}
    processes = _process_groups(pgids)
    assert len(processes) >= len(SERVICES) * 2 + len(BACKGROUND), processes  # masters and their workers
    as_root = {pid: cmd for pid, cmd in processes.items() if 0 in _uids(pid)}
    assert not as_root, f"running as root: {as_root}"


def test_program_server_and_gateway_logs_are_readable_by_no_other_user(stack_env):
    logs = sorted((Path(stack_env["HDMS_DATA_DIR"]) / "log").glob("*.log"))
    names = {path.name for path in logs}
    assert {"supervisord.log", "ticket.log", "worker.log", "gateway-access.log", "gateway-error.log"} <= names, names
    readable = {path.name: oct(path.stat().st_mode & 0o777) for path in logs if path.stat().st_mode & 0o007}
    assert not readable, f"logs other users may read: {readable}"
