"""The native stack: PostgreSQL -> PgBouncer -> Redis (and the gateway) from the machine's packages,
as an unprivileged user, with data under HDMS_DATA_DIR."""

from __future__ import annotations

import os
import pwd
import shutil
import signal
import subprocess
import time
from pathlib import Path

from .config import EXIT_CONFIG, EXIT_DATADIR, EXIT_PORT, MARKER, SERVICES, Config, StackError
from .gateway import Gateway
from .host import (
    ensure_packages,
    find_postgres_bindir,
    give_to,
    port_in_use,
    process_alive,
    read_pid,
    run_as_user,
    say,
    wait_until,
)
from .pgbouncer import PgBouncer
from .postgres import Postgres
from .redis_server import REDIS_ROLE_USERS, Redis


class NativeStack(Postgres, PgBouncer, Redis):
    def __init__(self, config: Config):
        self.config = config
        self.data = config.data_dir
        self.run = self.data / "run"
        self.log = self.data / "log"
        self.pgdata = self.data / "postgres"
        self.pg_port = config.port("POSTGRES_PORT", 5432)
        self.pgb_host = config.get("PGBOUNCER_HOST", "127.0.0.1")
        self.pgb_port = config.port("PGBOUNCER_PORT", 6432)
        self.redis_host = config.get("REDIS_HOST", "127.0.0.1")
        self.redis_port = config.port("REDIS_PORT", 6379)
        self.user: pwd.struct_passwd | None = None
        self.bindir: Path | None = None

    # -- plumbing ------------------------------------------------------------------------------

    def as_user(self, cmd: list[str], **kwargs) -> subprocess.CompletedProcess:
        """`cmd` as the servers' user, umask 027: their logs and files readable by no other user."""
        kwargs.setdefault("umask", 0o027)
        if os.geteuid() == 0:
            cmd = ["runuser", "-u", self.user.pw_name, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, **kwargs)

    def secrets(self) -> dict[str, str]:
        values = {f"{svc}_password": self.config.get(f"{svc.upper()}_DB_PASSWORD") for svc in SERVICES}
        values["admin_password"] = self.config.get("PGBOUNCER_ADMIN_PASSWORD")
        values["stats_password"] = self.config.get("PGBOUNCER_STATS_PASSWORD")
        for role in REDIS_ROLE_USERS:
            values[f"redis_{role}_password"] = self.config.get(f"REDIS_{role.upper()}_PASSWORD")
        for name, value in values.items():
            if any(ch in value for ch in "\"'\\\n "):
                env_name = {"admin_password": "PGBOUNCER_ADMIN_PASSWORD", "stats_password": "PGBOUNCER_STATS_PASSWORD"}.get(
                    name
                ) or (name.upper() if name.startswith("redis_") else f"{name.split('_')[0].upper()}_DB_PASSWORD")
                raise StackError(f"{env_name} must not contain quotes, backslashes or spaces", EXIT_CONFIG)
        return values

    def chown(self, path: Path) -> None:
        if os.geteuid() == 0:
            os.chown(path, self.user.pw_uid, self.user.pw_gid)

    def write_private(self, path: Path, content: str) -> bool:
        """Write a file only the server user can read; return True when the content changed."""
        if path.exists() and path.read_text() == content:
            return False
        path.write_text(content)
        path.chmod(0o600)
        os.chown(path, self.user.pw_uid, self.user.pw_gid)
        return True

    def prepare_data_dir(self) -> None:
        marker = self.data / MARKER
        if self.data.exists():
            if any(self.data.iterdir()) and not marker.exists():
                raise StackError(
                    f"{self.data} is not empty and was not created by HDMS (no {MARKER} file); "
                    "point HDMS_DATA_DIR at an empty or HDMS-owned directory",
                    EXIT_DATADIR,
                )
            owner = self.data.stat().st_uid
            if owner != self.user.pw_uid and os.geteuid() != 0:
                raise StackError(f"{self.data} belongs to uid {owner}, not to {self.user.pw_name}", EXIT_DATADIR)
        try:
            for folder in (self.data, self.run, self.log, self.data / "pgbouncer", self.data / "redis"):
                folder.mkdir(parents=True, exist_ok=True)
            marker.touch()
            probe = self.data / ".write-probe"
            probe.write_text("ok")
            probe.unlink()
        except OSError as exc:
            raise StackError(
                f"data directory {self.data} is not writable ({exc.strerror}); set HDMS_DATA_DIR", EXIT_DATADIR
            ) from exc
        give_to(self.user, self.data)
        if os.geteuid() == 0 and self.as_user(["test", "-w", str(self.data)]).returncode != 0:
            raise StackError(
                f"{self.user.pw_name} (the unprivileged user the servers run as) cannot write {self.data}: "
                "a parent directory is not traversable; set HDMS_DATA_DIR to a path it can reach",
                EXIT_DATADIR,
            )
        if self.pgdata.exists():
            owner = self.pgdata.stat().st_uid
            if owner != self.user.pw_uid:
                raise StackError(f"{self.pgdata} belongs to uid {owner}, not to {self.user.pw_name}", EXIT_DATADIR)

    def check_port(self, host: str, port: int, variable: str, server: str) -> None:
        if port_in_use(host, port):
            raise StackError(
                f"port {port} is already in use by another process, so {server} cannot listen on it; "
                f"set {variable} in {self.config.env_file} to a free port",
                EXIT_PORT,
            )

    # -- lifecycle -----------------------------------------------------------------------------

    def prepare(self) -> None:
        ensure_packages()
        self.bindir = find_postgres_bindir()
        self.user = run_as_user(self.config)

    def start(self) -> None:
        self.prepare()
        self.secrets()  # every required secret is named before anything starts
        # Fail fast on a taken port, before anything starts.
        if not process_alive(read_pid(self.pgb_pidfile), "pgbouncer"):
            self.check_port(self.pgb_host, self.pgb_port, "PGBOUNCER_PORT", "PgBouncer")
        if not process_alive(read_pid(self.redis_pidfile), "redis-server"):
            self.check_port(self.redis_host, self.redis_port, "REDIS_PORT", "Redis")
        gateway = self.gateway()
        if not gateway.running:
            self.check_port(gateway.host, gateway.port, "GATEWAY_PORT", "the gateway (nginx)")
        self.prepare_data_dir()
        self.start_postgres()
        self.start_pgbouncer()
        self.start_redis()
        self.gateway().start()

    def gateway(self) -> Gateway:
        return Gateway(self)

    def stop_process(self, name: str, binary: str, pidfile: Path) -> None:
        started = time.monotonic()
        pid = read_pid(pidfile)
        if not process_alive(pid, binary):
            say(name, "not running", started)
            pidfile.unlink(missing_ok=True)
            return
        os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not process_alive(pid, binary), what=f"{name} (pid {pid}) to exit", timeout=30)
        pidfile.unlink(missing_ok=True)
        say(name, "stopped", started, f"pid {pid}")

    def stop(self, *, purge: bool) -> None:
        if not self.data.exists():
            print(f"nothing to stop: {self.data} does not exist")
            return
        self.bindir = find_postgres_bindir()
        self.user = run_as_user(self.config)
        self.stop_process("gateway", "nginx", self.gateway().pidfile)
        self.stop_process("redis", "redis-server", self.redis_pidfile)
        self.stop_process("pgbouncer", "pgbouncer", self.pgb_pidfile)
        if self.bindir:
            self.stop_postgres()
        if purge:
            if not (self.data / MARKER).exists():
                raise StackError(f"refusing to purge {self.data}: it has no {MARKER} marker", EXIT_DATADIR)
            shutil.rmtree(self.data)
            print(f"purged {self.data}")

    def status(self) -> int:
        self.bindir = find_postgres_bindir()
        self.user = run_as_user(self.config)
        rows = [
            ("postgres", self.bindir is not None and self.postgres_running(), f"socket {self.run}"),
            ("pgbouncer", process_alive(read_pid(self.pgb_pidfile), "pgbouncer"), f"{self.pgb_host}:{self.pgb_port}"),
            ("redis", process_alive(read_pid(self.redis_pidfile), "redis-server"), f"{self.redis_host}:{self.redis_port}"),
            ("gateway", self.gateway().running, f"http://127.0.0.1:{self.gateway().port}"),
        ]
        for name, up, where in rows:
            print(f"{name:<12} {'up' if up else 'down':<6} {where}")
        return 0 if all(up for _, up, _ in rows) else 1
