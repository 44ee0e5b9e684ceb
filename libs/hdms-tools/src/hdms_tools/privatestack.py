"""A throwaway HDMS stack: the one way `make test`, `make bench`, the fault suite (through
`make test` / `make chaos`), the README test and the launcher tests get a stack of their own.

It has its own folder under /tmp, free ports, its own key pair and an env file rendered from
`.env.example` with fresh secrets and the caller's overrides; it is started by the same commands
`make up` runs (the launcher, the migrations, the programs under supervisord) and purged at the end.
Nothing in it can reach a developer's stack: the variables `.env.example` names are scrubbed from
the environment its commands run in.

    with PrivateStack("hdms-bench-", {"HDMS_SETTINGS": "prod"}) as stack:
        stack.values["TICKET_SERVICE_PORT"]
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

from . import envfile
from .stack.config import PYTHONPATH, REPO, read_env_file

PY = str(REPO / ".venv" / "bin" / "python")
EXAMPLE = REPO / ".env.example"
# What `make up` runs after `make env` / `make deps`, in order: (name, argv).
START = ("stack start", [PY, "-m", "hdms_tools.stack", "start"])
MIGRATE = ("migrate", ["bash", "scripts/migrate-all.sh"])
PROGRAMS = ("services start", [PY, "-m", "hdms_tools.processes", "start"])


def free_ports(count: int) -> list[int]:
    """`count` distinct TCP ports free right now (held open together, so never the same one twice)."""
    sockets, ports = [], []
    for _ in range(count):
        sock = socket.socket()
        sock.bind(("127.0.0.1", 0))
        sockets.append(sock)
        ports.append(sock.getsockname()[1])
    for sock in sockets:
        sock.close()
    return ports


def listening_ports() -> tuple[str, ...]:
    """Every TCP port a stack's servers and programs listen on, as `.env.example` names them
    (PostgreSQL listens on a socket in the data folder only, so POSTGRES_PORT is not one)."""
    return tuple(name for name in read_env_file(EXAMPLE) if name.endswith("_PORT") and name != "POSTGRES_PORT")


def stack_variables() -> set[str]:
    """What could point a program at some stack: every variable `.env.example` names, and a Django
    settings module."""
    return {*read_env_file(EXAMPLE), "DJANGO_SETTINGS_MODULE"}


def scrub_environment() -> None:
    """Drop them from this process' environment: a private stack must not inherit a developer's
    stack's ports or secrets."""
    for key in stack_variables():
        os.environ.pop(key, None)


class PrivateStack:
    def __init__(self, prefix: str, overrides: dict[str, str] | None = None):
        """Every port it listens on is a free one: a developer's stack, another private stack or
        anything else on the machine holding a default port (9101, ...) cannot collide with it."""
        self.root = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
        self.root.chmod(0o755)  # the servers' unprivileged user must reach the data folder below
        names = listening_ports()
        keys = self.root / "keys"
        envfile.ensure_keys(keys / "jwt-private.pem", keys / "jwt-public.pem")
        base = {
            "HDMS_STACK_MODE": "native",
            "HDMS_DATA_DIR": str(self.root / "data"),
            "FILE_STORAGE_DIR": str(self.root / "media"),
            "JWT_PRIVATE_KEY_FILE": str(keys / "jwt-private.pem"),
            "JWT_PUBLIC_KEY_FILE": str(keys / "jwt-public.pem"),
            **{name: str(port) for name, port in zip(names, free_ports(len(names)), strict=True)},
        }
        self.env_file = self.root / "stack.env"
        self.env_file.write_text(envfile.render(EXAMPLE.read_text(), {**base, **(overrides or {})}))
        self.values = read_env_file(self.env_file)

    @property
    def data(self) -> Path:
        return Path(self.values["HDMS_DATA_DIR"])

    def environ(self, **extra: str) -> dict[str, str]:
        """The environment the stack's commands run in: this process' without any stack's
        variables, plus this stack's env file."""
        dropped = stack_variables()  # once: not a read of .env.example per variable of the environment
        scrubbed = {k: v for k, v in os.environ.items() if k not in dropped}
        return {**scrubbed, "HDMS_ENV_FILE": str(self.env_file), "PYTHONPATH": PYTHONPATH, **extra}

    def activate(self) -> None:
        """Point this process (and everything it starts) at the stack, as `make test` does."""
        scrub_environment()
        os.environ.update({"HDMS_ENV_FILE": str(self.env_file), "PYTHONPATH": PYTHONPATH})

    def run(self, argv: list[str], **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(argv, cwd=REPO, env=self.environ(), **kwargs)

    def start(self, *, migrate: bool = True, programs: bool = True) -> None:
        """The servers, then (optionally) the migrations and the programs; raises on the first failure."""
        steps = [START, *([MIGRATE] if migrate else []), *([PROGRAMS] if migrate and programs else [])]
        for _, argv in steps:
            self.run(argv, check=True, stdout=subprocess.DEVNULL)

    def stop(self) -> None:
        """Stop the programs and the servers, delete the data and the folder. Safe to call twice."""
        if self.root.exists():
            self.run([PY, "-m", "hdms_tools.processes", "stop"], capture_output=True)
            self.run([PY, "-m", "hdms_tools.stack", "stop", "--purge"], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PrivateStack:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc_info) -> None:
        self.stop()
