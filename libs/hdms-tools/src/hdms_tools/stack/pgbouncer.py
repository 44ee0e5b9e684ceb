"""PgBouncer for the native stack: transaction pooling, the only TCP door to PostgreSQL."""

from __future__ import annotations

import os
import signal
import string
import time
from pathlib import Path

from .config import EXIT_START, REPO, SERVICES, StackError
from .host import port_in_use, process_alive, read_pid, say, wait_until


class PgBouncer:
    """NativeStack's PgBouncer part."""

    @property
    def pgb_pidfile(self) -> Path:
        return self.run / "pgbouncer.pid"

    def render_pgbouncer(self) -> bool:
        secrets = self.secrets()
        admin = self.config.get("PGBOUNCER_ADMIN_USER", "hdms_pgbouncer")
        auth_file = self.data / "pgbouncer" / "userlist.txt"
        stats = self.config.get("PGBOUNCER_STATS_USER", "hdms_pgbouncer_stats")
        users = [(f"hdms_{svc}", secrets[f"{svc}_password"]) for svc in SERVICES]
        users += [(admin, secrets["admin_password"]), (stats, secrets["stats_password"])]
        changed = self.write_private(auth_file, "".join(f'"{u}" "{p}"\n' for u, p in users))
        template = string.Template((REPO / "config/pgbouncer/pgbouncer.ini.example").read_text())
        ini = template.substitute(
            POSTGRES_HOST=str(self.run),
            POSTGRES_PORT=self.pg_port,
            PGBOUNCER_LISTEN_ADDR=self.pgb_host,
            PGBOUNCER_PORT=self.pgb_port,
            PGBOUNCER_PIDFILE=self.pgb_pidfile,
            PGBOUNCER_LOGFILE=self.log / "pgbouncer.log",
            PGBOUNCER_AUTH_FILE=auth_file,
            PGBOUNCER_ADMIN_USER=admin,
            PGBOUNCER_STATS_USER=stats,
            PGBOUNCER_POOL_SIZE=self.config.get("PGBOUNCER_POOL_SIZE", "20"),
            PGBOUNCER_MAX_CLIENT_CONN=self.config.get("PGBOUNCER_MAX_CLIENT_CONN", "1000"),
            PGBOUNCER_MAX_DB_CONNECTIONS=self.config.get("PGBOUNCER_MAX_DB_CONNECTIONS", "0"),
        )
        return self.write_private(self.data / "pgbouncer" / "pgbouncer.ini", ini) or changed

    def start_pgbouncer(self) -> None:
        started = time.monotonic()
        changed = self.render_pgbouncer()
        pid = read_pid(self.pgb_pidfile)
        if process_alive(pid, "pgbouncer"):
            if changed:
                os.kill(pid, signal.SIGHUP)
                say("pgbouncer", "reloaded", started, f"pid {pid}, configuration changed")
            else:
                say("pgbouncer", "already up", started, f"pid {pid}, {self.pgb_host}:{self.pgb_port}")
            return
        if self.pgb_pidfile.exists():
            say("pgbouncer", "stale pidfile", started, f"removed {self.pgb_pidfile} (pid {pid} is gone)")
            self.pgb_pidfile.unlink()
        self.check_port(self.pgb_host, self.pgb_port, "PGBOUNCER_PORT", "PgBouncer")
        result = self.as_user(["pgbouncer", "-d", "-q", str(self.data / "pgbouncer" / "pgbouncer.ini")])
        if result.returncode != 0:
            raise StackError(f"PgBouncer did not start: {result.stderr.strip()[-400:]}", EXIT_START)
        wait_until(
            lambda: process_alive(read_pid(self.pgb_pidfile), "pgbouncer") and port_in_use(self.pgb_host, self.pgb_port),
            what=f"PgBouncer on {self.pgb_host}:{self.pgb_port} (log: {self.log / 'pgbouncer.log'})",
        )
        say("pgbouncer", "started", started, f"pid {read_pid(self.pgb_pidfile)}, {self.pgb_host}:{self.pgb_port}")
