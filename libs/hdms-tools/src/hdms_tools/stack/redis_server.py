"""Redis for the native stack: one server, a user per role (config/redis/users.acl)."""

from __future__ import annotations

import socket
import time
from pathlib import Path

from .config import EXIT_AUTH, EXIT_START, REPO, StackError
from .host import process_alive, read_pid, say, wait_until

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


class Redis:
    """NativeStack's Redis part."""

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
                "\n# --- set by hdms_tools.stack from the environment ---\n"
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
