"""Start and stop the HDMS data plane: PostgreSQL -> PgBouncer -> Redis.

Standard library only: it runs on a fresh machine before any virtualenv exists
(`scripts/start-infrastructure.sh` calls it with the system python3).

With a Docker engine that answers, it drives docker compose; without one it runs the same
servers natively from the machine's packages, as an unprivileged user, with data under
HDMS_DATA_DIR. PostgreSQL listens on a Unix socket only; PgBouncer is its only TCP door.

Exit codes (also used by the shell wrappers):
  0 ok · 2 configuration · 3 missing binary · 4 port taken · 5 data directory · 6 server did not
  start · 7 authentication
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pwd
import shutil
import signal
import socket
import string
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[4]
SERVICES = ("user", "ticket", "communication", "file")
MARKER = ".hdms-stack"
RUN_AS_DEFAULT = "hdms"

EXIT_CONFIG, EXIT_BINARY, EXIT_PORT, EXIT_DATADIR, EXIT_START, EXIT_AUTH = 2, 3, 4, 5, 6, 7


class StackError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


def cli(main) -> None:
    """Run a tool's `main` as a command (`if __name__ == "__main__": cli(main)`): a StackError is
    one line on stderr, naming what to fix, and its exit code; anything else keeps its traceback."""
    try:
        code = main()
    except StackError as exc:
        print(f"error: {exc}", file=sys.stderr)
        code = exc.code
    sys.exit(code)


# --------------------------------------------------------------------------------------------
# configuration


def read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    if not path.is_file():
        return values
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        key, _, value = line.partition("=")
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        values[key.strip()] = value
    return values


@dataclass
class Config:
    env: dict[str, str]
    env_file: Path

    @classmethod
    def load(cls) -> Config:
        env_file = Path(os.environ.get("HDMS_ENV_FILE") or REPO / ".env")
        env = read_env_file(env_file)
        env.update({k: v for k, v in os.environ.items()})
        return cls(env=env, env_file=env_file)

    def get(self, name: str, default: str | None = None) -> str:
        value = self.env.get(name, "")
        if value == "":
            if default is None:
                raise StackError(
                    f"{name} is not set: add it to {self.env_file} (see .env.example; "
                    f"`make env` writes a .env with fresh secrets)",
                    EXIT_CONFIG,
                )
            return default
        return value

    def port(self, name: str, default: int) -> int:
        raw = self.get(name, str(default))
        if not raw.isdigit() or not 0 < int(raw) < 65536:
            raise StackError(f"{name} must be a TCP port number (1-65535), got {raw!r}", EXIT_CONFIG)
        return int(raw)

    @property
    def data_dir(self) -> Path:
        path = Path(self.get("HDMS_DATA_DIR", str(REPO / ".devstack")))
        return path if path.is_absolute() else REPO / path


# --------------------------------------------------------------------------------------------
# small helpers


def say(step: str, status: str, started: float, detail: str = "") -> None:
    elapsed = time.monotonic() - started
    print(f"{step:<12} {status:<16} {elapsed:6.2f}s  {detail}".rstrip(), flush=True)


def wait_until(check, *, what: str, timeout: float = 30.0) -> None:
    """Poll `check` with exponential backoff (50 ms doubling to 1 s) until it is true or time is up."""
    deadline = time.monotonic() + timeout
    delay = 0.05
    last_error = ""
    while True:
        try:
            if check():
                return
        except Exception as exc:  # noqa: BLE001 - any failure means "not yet"
            last_error = f" (last error: {exc})"
        if time.monotonic() >= deadline:
            raise StackError(f"{what} did not come up within {timeout:.0f}s{last_error}", EXIT_START)
        time.sleep(delay)
        delay = min(delay * 2, 1.0)


def port_in_use(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((host, port)) == 0


def read_pid(pidfile: Path) -> int | None:
    try:
        return int(pidfile.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None


def process_alive(pid: int | None, name: str) -> bool:
    if not pid:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return name.encode() in cmdline and ") Z " not in stat


REDIS_ROLE_USERS = ("admin", "metrics", "cache", "channels", "broker")


def render_redis_acl(passwords: dict[str, str]) -> str:
    """config/redis/users.acl with each ${REDIS_<ROLE>_PASSWORD} filled in (see that file)."""
    text = (REPO / "config/redis/users.acl").read_text()
    for role in REDIS_ROLE_USERS:
        text = text.replace(f"${{REDIS_{role.upper()}_PASSWORD}}", passwords[role])
    return "\n".join(line for line in text.splitlines() if line.startswith("user ")) + "\n"


def redis_command(host: str, port: int, password: str, *args: str, timeout: float = 2.0) -> str:
    """One RESP round-trip (AUTH as hdms-admin + command) with the standard library; returns the
    last reply line."""

    def encode(*parts: str) -> bytes:
        out = f"*{len(parts)}\r\n"
        for part in parts:
            out += f"${len(part.encode())}\r\n{part}\r\n"
        return out.encode()

    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(encode("AUTH", "hdms-admin", password) + encode(*args))
        data = b""
        while data.count(b"\r\n") < 2:
            chunk = sock.recv(4096)
            if not chunk:
                break
            data += chunk
    lines = data.decode(errors="replace").split("\r\n")
    if lines[0].startswith("-"):
        raise StackError(f"Redis on port {port} rejected REDIS_ADMIN_PASSWORD: {lines[0][1:]}", EXIT_AUTH)
    return lines[1] if len(lines) > 1 else ""


# --------------------------------------------------------------------------------------------
# binaries and the unprivileged user


def find_postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for bindir in candidates:
        if (bindir / "postgres").exists() and (bindir / "initdb").exists():
            return bindir
    return None


# (Debian package, the binary that shows it is installed). nginx is the gateway; chromium and
# docker-compose are for `make test` (the Swagger UI rendered in a browser, compose files parsed
# by a real compose implementation).
NEEDED_PACKAGES = (
    ("pgbouncer", "pgbouncer"),
    ("redis-server", "redis-server"),
    ("nginx-light", "nginx"),
    ("chromium", "chromium"),
    ("docker-compose", "docker-compose"),
    ("prometheus", "promtool"),  # make observe; make test checks the config and unit-tests the alerts
    ("prometheus-redis-exporter", "prometheus-redis-exporter"),
)


def ensure_packages() -> None:
    missing = [pkg for pkg, binary in NEEDED_PACKAGES if not shutil.which(binary)]
    if find_postgres_bindir() is None:
        missing.append("postgresql")
    if not missing:
        return
    command = f"apt-get update && apt-get install -y --no-install-recommends {' '.join(missing)}"
    if os.geteuid() != 0:
        raise StackError(f"missing {', '.join(missing)}: install with `sudo sh -c '{command}'`", EXIT_BINARY)
    print(f"installing {' '.join(missing)} from Debian's packages (services not auto-started)", flush=True)
    # policy-rc.d exit 101 stops apt from starting Debian's own redis/pgbouncer/postgres services.
    policy = Path("/usr/sbin/policy-rc.d")
    created_policy = not policy.exists()
    if created_policy:
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
    try:
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        for cmd in (["apt-get", "update", "-qq"], ["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing]):
            result = subprocess.run(cmd, env=env, capture_output=True, text=True)
            if result.returncode != 0:
                raise StackError(f"`{' '.join(cmd)}` failed: {result.stderr.strip()[-400:]}", EXIT_BINARY)
    finally:
        if created_policy:
            policy.unlink()


def run_as_user(config: Config) -> pwd.struct_passwd:
    if os.geteuid() != 0:
        return pwd.getpwuid(os.geteuid())
    name = config.get("HDMS_RUN_AS", RUN_AS_DEFAULT)
    try:
        return pwd.getpwnam(name)
    except KeyError:
        subprocess.run(
            [
                "useradd",
                "--system",
                "--user-group",
                "--no-create-home",
                "--home-dir",
                "/nonexistent",
                "--shell",
                "/usr/sbin/nologin",
                name,
            ],
            check=True,
        )
        return pwd.getpwnam(name)


# --------------------------------------------------------------------------------------------
# the native stack


class NativeStack:
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
        if os.geteuid() == 0:
            for path in [self.data, *self.data.rglob("*")]:
                if path.stat().st_uid != self.user.pw_uid and not path.is_symlink():
                    os.chown(path, self.user.pw_uid, self.user.pw_gid)
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

    # -- PostgreSQL ----------------------------------------------------------------------------

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

    # -- PgBouncer -----------------------------------------------------------------------------

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

    # -- Redis ---------------------------------------------------------------------------------

    @property
    def redis_pidfile(self) -> Path:
        return self.run / "redis.pid"

    def start_redis(self) -> None:
        started = time.monotonic()
        secrets = self.secrets()
        password = secrets["redis_admin_password"]
        conf = (
            (REPO / "config/redis/redis.conf").read_text()
            + (
                "\n# --- set by hdms_platform.stack from the environment ---\n"
                f"bind {self.redis_host}\nport {self.redis_port}\n"
                f"dir {self.data / 'redis'}\npidfile {self.redis_pidfile}\nlogfile {self.log / 'redis.log'}\n"
                f"daemonize yes\nmaxmemory {self.config.get('REDIS_MAXMEMORY', '256mb')}\n"
            )
            + render_redis_acl({role: secrets[f"redis_{role}_password"] for role in REDIS_ROLE_USERS})
        )
        changed = self.write_private(self.data / "redis" / "redis.conf", conf)
        pid = read_pid(self.redis_pidfile)
        if process_alive(pid, "redis-server"):
            redis_command(self.redis_host, self.redis_port, password, "PING")
            note = " (configuration changed: restart with stop-infrastructure.sh to apply)" if changed else ""
            say("redis", "already up", started, f"pid {pid}, {self.redis_host}:{self.redis_port}{note}")
            return
        if self.redis_pidfile.exists():
            say("redis", "stale pidfile", started, f"removed {self.redis_pidfile} (pid {pid} is gone)")
            self.redis_pidfile.unlink()
        self.check_port(self.redis_host, self.redis_port, "REDIS_PORT", "Redis")
        result = self.as_user(["redis-server", str(self.data / "redis" / "redis.conf")])
        if result.returncode != 0:
            raise StackError(f"Redis did not start: {result.stderr.strip()[-400:]}", EXIT_START)
        wait_until(
            lambda: redis_command(self.redis_host, self.redis_port, password, "PING") == "+PONG",
            what=f"Redis on {self.redis_host}:{self.redis_port} (log: {self.log / 'redis.log'})",
        )
        say("redis", "started", started, f"pid {read_pid(self.redis_pidfile)}, {self.redis_host}:{self.redis_port}")

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

    def gateway(self):
        from .gateway import Gateway  # the gateway module builds on this one

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


# --------------------------------------------------------------------------------------------
# docker compose


def docker_available() -> bool:
    if not shutil.which("docker"):
        return False
    try:
        return subprocess.run(["docker", "info"], capture_output=True, timeout=5).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def compose(*args: str) -> int:
    cmd = ["docker", "compose", "-f", str(REPO / "docker-compose.yml"), "-f", str(REPO / "docker-compose.dev.yml"), *args]
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO).returncode


def use_docker(config: Config) -> bool:
    mode = config.get("HDMS_STACK_MODE", "auto")
    if mode not in ("auto", "docker", "native"):
        raise StackError(f"HDMS_STACK_MODE must be auto, docker or native, got {mode!r}", EXIT_CONFIG)
    if mode == "native":
        return False
    available = docker_available()
    if mode == "docker" and not available:
        raise StackError("HDMS_STACK_MODE=docker but no Docker engine answers `docker info`", EXIT_BINARY)
    return available


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="hdms-stack", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("start")
    stop = sub.add_parser("stop")
    stop.add_argument("--purge", action="store_true", help="also delete the data directory")
    sub.add_parser("status")
    sub.add_parser("install", help="install the servers from Debian's packages if missing")
    args = parser.parse_args(argv)
    if args.command == "install":
        ensure_packages()
        return 0
    config = Config.load()
    stack = NativeStack(config)
    if use_docker(config):
        # Infrastructure in compose; the services run natively (processes.py), so the gateway
        # in front of them is the native one too.
        if args.command == "start":
            code = compose("up", "-d", "--wait", "postgres", "pgbouncer", "redis")
            if code == 0:
                stack.prepare()
                stack.prepare_data_dir()
                stack.gateway().start()
            return code
        if args.command == "stop":
            stack.user = run_as_user(config)
            stack.stop_process("gateway", "nginx", stack.gateway().pidfile)
            return compose("down", *(["-v"] if args.purge else []))
        return compose("ps")
    started = time.monotonic()
    if args.command == "start":
        stack.start()
        say("stack", "ready", started, f"data in {stack.data}")
    elif args.command == "stop":
        stack.stop(purge=args.purge)
    else:
        return stack.status()
    return 0


if __name__ == "__main__":
    cli(main)
