"""supervisord (PyPI's `supervisor`) keeps the native programs running (`make up`).

One supervisord per data directory: $HDMS_DATA_DIR/run/supervisord.conf, its socket
run/supervisor.sock (0700), started by the first `processes start` and shut down by a
`processes stop` that leaves nothing running. It restarts a program that dies (autorestart), stops
a program's whole process group, and rotates each program's log (PROGRAM_LOG_MAX_MB,
PROGRAM_LOG_BACKUPS).

Every program's command is `python -m hdms_tools.supervise exec NAME RUN_DIR`: it reads
run/NAME.launch.json (argv, directory and environment, written by `processes start`), writes
run/NAME.pid and execs the program. So a restart by supervisord uses the same command and
environment as the start did, the pid file always names the running process, and supervisord
itself holds no secret (it starts with a bare environment).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
import xmlrpc.client
from pathlib import Path

STATES_UP = ("STARTING", "RUNNING")
STATES_FAILED = ("BACKOFF", "FATAL", "EXITED", "UNKNOWN")
GRACE_SECONDS = 20  # TERM, then KILL: the same as `processes stop` before supervision


def paths(data_dir: Path) -> tuple[Path, Path, Path]:
    run = data_dir / "run"
    return run / "supervisord.conf", run / "supervisor.sock", run / "supervisord.pid"


def render(
    data_dir: Path, programs: dict[str, Path], *, venv_python: str, log_max_mb: int, log_backups: int, user: str | None = None
) -> Path:
    """Write supervisord.conf for `programs` (name -> working directory); returns its path. `user`:
    the account supervisord switches to at once when started as root, so neither it nor any
    program runs as root."""
    conf, sock, pidfile = paths(data_dir)
    log = data_dir / "log"

    def q(path: Path | str) -> str:  # supervisord expands %(...)s in values
        return str(path).replace("%", "%%")

    sections = [
        f"[unix_http_server]\nfile={q(sock)}\nchmod=0700\n",
        f"[supervisord]\nlogfile={q(log / 'supervisord.log')}\nlogfile_maxbytes={log_max_mb}MB\n"
        f"logfile_backups={log_backups}\npidfile={q(pidfile)}\nnodaemon=true\nsilent=true\nidentifier=hdms\n"
        + (f"user={user}\n" if user else ""),
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl=unix://{q(sock)}\n",
    ]
    for name, directory in programs.items():
        sections.append(
            f"[program:{name}]\n"
            f"command={q(venv_python)} -m hdms_tools.supervise exec {name} {q(data_dir / 'run')}\n"
            f"directory={q(directory)}\n"
            "autostart=false\nautorestart=true\nstartsecs=1\nstartretries=3\n"
            f"stopsignal=TERM\nstopwaitsecs={GRACE_SECONDS}\nstopasgroup=true\nkillasgroup=true\n"
            f"redirect_stderr=true\nstdout_logfile={q(log / (name + '.log'))}\n"
            f"stdout_logfile_maxbytes={log_max_mb}MB\nstdout_logfile_backups={log_backups}\n"
        )
    conf.write_text("\n".join(sections))
    return conf


def client(data_dir: Path):
    """The supervisord of this data directory (XML-RPC over its socket): `.supervisor.<method>`."""
    from supervisor.xmlrpc import SupervisorTransport  # in .venv; the exec path below needs only the stdlib

    transport = SupervisorTransport(None, None, f"unix://{paths(data_dir)[1]}")
    return xmlrpc.client.ServerProxy("http://localhost", transport=transport)


def running(data_dir: Path) -> bool:
    if not paths(data_dir)[1].exists():
        return False
    try:
        return client(data_dir).supervisor.getState()["statename"] == "RUNNING"
    except (OSError, xmlrpc.client.Error):
        return False


def launch_file(run_dir: Path, name: str) -> Path:
    return run_dir / f"{name}.launch.json"


def write_launch(run_dir: Path, name: str, argv: list[str], cwd: Path, env: dict[str, str], owner=None) -> None:
    """run/NAME.launch.json, 0600; `owner` (a pwd entry): the user the program runs as, who reads it."""
    path = launch_file(run_dir, name)
    path.touch(mode=0o600)
    path.chmod(0o600)
    if owner:
        os.chown(path, owner.pw_uid, owner.pw_gid)
    path.write_text(json.dumps({"argv": argv, "cwd": str(cwd), "env": env}))


def end_process_group(pgid: int, grace: float) -> bool:
    """TERM the process group, KILL what is left after `grace` seconds; False if it was already gone."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 1.0)):
        try:
            os.killpg(pgid, sig)
        except (ProcessLookupError, PermissionError):
            return sig != signal.SIGTERM
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return True
            time.sleep(0.05)
    return True


def _reap_previous(pidfile: Path) -> None:
    """If the last run's leader died alone (SIGKILL), its children may still hold the port: the
    gunicorn or uvicorn workers of a killed master. End that old process group first."""
    try:
        old = int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    if old not in (os.getpid(), os.getpgrp()):
        end_process_group(old, grace=5.0)


def exec_program(name: str, run_dir: Path) -> None:
    spec = json.loads(launch_file(run_dir, name).read_text())
    pidfile = run_dir / f"{name}.pid"
    _reap_previous(pidfile)
    pidfile.write_text(str(os.getpid()))
    os.chdir(spec["cwd"])
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "exec":
        sys.exit("usage: python -m hdms_tools.supervise exec NAME RUN_DIR")
    exec_program(sys.argv[2], Path(sys.argv[3]))
