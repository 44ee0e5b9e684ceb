"""PostgreSQL for the native stack: a cluster on a Unix socket only, the service databases and roles."""

from __future__ import annotations

import hashlib
import os
import time

from .config import EXIT_DATADIR, EXIT_START, REPO, SERVICES, StackError
from .host import read_pid, say, wait_until


class Postgres:
    """NativeStack's PostgreSQL part (the data directory, the server user and secrets come from NativeStack)."""

    def pg(self, tool: str) -> str:
        return str(self.bindir / tool)

    def postgres_running(self) -> bool:
        return self.pgdata.exists() and self.as_user([self.pg("pg_ctl"), "status", "-D", str(self.pgdata)]).returncode == 0

    def start_postgres(self) -> None:
        started = time.monotonic()
        if self.postgres_running():
            pid = read_pid(self.pgdata / "postmaster.pid")
            say("postgres", "already up", started, f"pid {pid}, socket {self.run}")
            self.bootstrap_databases(started, fresh=False)
            return
        if not (self.pgdata / "PG_VERSION").exists():
            if self.pgdata.exists() and any(self.pgdata.iterdir()):
                raise StackError(f"{self.pgdata} is not empty and holds no PostgreSQL cluster", EXIT_DATADIR)
            result = self.as_user(
                [
                    self.pg("initdb"),
                    "-D",
                    str(self.pgdata),
                    "-U",
                    self.user.pw_name,
                    "--auth-local=peer",
                    "--auth-host=reject",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-instructions",
                ]
            )
            if result.returncode != 0:
                raise StackError(f"initdb failed: {result.stderr.strip()[-400:]}", EXIT_START)
            conf = self.pgdata / "postgresql.conf"
            conf.write_text(conf.read_text() + "\ninclude 'hdms.conf'\n")
            (self.pgdata / "pg_hba.conf").write_text(
                f"# HDMS: Unix socket only. The superuser by peer, every other role by SCRAM.\n"
                f"local all {self.user.pw_name} peer\nlocal all all scram-sha-256\n"
            )
        # Settings are rewritten every start so the cluster follows the environment.
        hdms_conf = self.pgdata / "hdms.conf"
        hdms_conf.write_text(
            "listen_addresses = ''\n"
            f"unix_socket_directories = '{self.run}'\n"
            f"port = {self.pg_port}\n"
            f"max_connections = {self.config.get('POSTGRES_MAX_CONNECTIONS', '100')}\n"
            "password_encryption = 'scram-sha-256'\n"
            "timezone = 'UTC'\n"
            "shared_buffers = '128MB'\n"
            "log_min_duration_statement = 1000\n"
        )
        os.chown(hdms_conf, self.user.pw_uid, self.user.pw_gid)
        stale = self.pgdata / "postmaster.pid"
        if stale.exists():
            print(
                f"{'postgres':<12} {'stale pidfile':<16} {0:6.2f}s  {stale} (pid {read_pid(stale)} is gone; PostgreSQL removes it)"
            )
        result = self.as_user(
            [
                self.pg("pg_ctl"),
                "start",
                "-D",
                str(self.pgdata),
                "-l",
                str(self.log / "postgres.log"),
                "-w",
                "-t",
                "60",
            ]
        )
        if result.returncode != 0:
            tail = (self.log / "postgres.log").read_text()[-600:] if (self.log / "postgres.log").exists() else ""
            raise StackError(f"PostgreSQL did not start: {result.stdout.strip()} {tail.strip()}", EXIT_START)
        wait_until(
            lambda: self.as_user([self.pg("pg_isready"), "-q", "-h", str(self.run), "-p", str(self.pg_port)]).returncode == 0,
            what="PostgreSQL",
        )
        say("postgres", "started", started, f"pid {read_pid(self.pgdata / 'postmaster.pid')}, socket {self.run} (no TCP)")
        self.bootstrap_databases(started, fresh=True)

    def bootstrap_databases(self, started: float, *, fresh: bool) -> None:
        secrets = self.secrets()
        digest = hashlib.sha256(
            repr(sorted(secrets.items())).encode() + (REPO / "config/postgres/init.sql").read_bytes()
        ).hexdigest()
        state = self.data / "postgres.bootstrap"
        if not fresh and state.exists() and state.read_text() == digest:
            return
        script = "".join(f"\\set {name} '{value}'\n" for name, value in secrets.items() if name.endswith("_password"))
        script += (REPO / "config/postgres/init.sql").read_text()
        result = self.as_user(
            [
                self.pg("psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                str(self.run),
                "-p",
                str(self.pg_port),
                "-d",
                "postgres",
            ],
            input=script,
        )
        if result.returncode != 0:
            raise StackError(f"creating the service databases failed: {result.stderr.strip()[-400:]}", EXIT_START)
        state.write_text(digest)
        say("postgres", "databases ready", started, ", ".join(f"hdms_{s}" for s in SERVICES))

    def stop_postgres(self) -> None:
        started = time.monotonic()
        if not self.postgres_running():
            say("postgres", "not running", started)
            return
        result = self.as_user([self.pg("pg_ctl"), "stop", "-D", str(self.pgdata), "-m", "fast", "-w", "-t", "60"])
        if result.returncode != 0:
            raise StackError(f"pg_ctl stop failed: {result.stderr.strip()}", EXIT_START)
        say("postgres", "stopped", started)
