"""The host machine: its packages, the unprivileged user the servers run as, its processes and ports."""

from __future__ import annotations

import os
import pwd
import shutil
import socket
import subprocess
import time
from pathlib import Path

from .config import EXIT_BINARY, EXIT_START, RUN_AS_DEFAULT, Config, StackError


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


def find_postgres_bindir() -> Path | None:
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name), reverse=True)
    for bindir in candidates:
        if (bindir / "postgres").exists() and (bindir / "initdb").exists():
            return bindir
    return None


# (Debian package, the binary that shows it is installed). nginx is the gateway; chromium is for
# `make test` (the Swagger UI rendered in a browser). Compose v2 (the compose files parsed and run
# by a real implementation) comes from Debian trixie: hdms_tools.images.install_compose_plugin.
NEEDED_PACKAGES = (
    ("pgbouncer", "pgbouncer"),
    ("redis-server", "redis-server"),
    ("nginx-light", "nginx"),
    ("chromium", "chromium"),
    ("prometheus", "promtool"),  # make observe; make test checks the config and unit-tests the alerts
    ("prometheus-redis-exporter", "prometheus-redis-exporter"),
)


def ensure_packages() -> None:
    _ensure_debian_packages()
    if os.geteuid() == 0:
        from ..images import install_compose_plugin

        install_compose_plugin()


def _ensure_debian_packages() -> None:
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


def give_to(user: pwd.struct_passwd, top: Path) -> None:
    """`top` and everything below it owned by `user` (as root; symlinks left alone): what the
    servers and programs write lives there, and a folder left by a run as root must not stop them."""
    if os.geteuid() != 0 or not top.exists():
        return
    for path in [top, *top.rglob("*")]:
        if not path.is_symlink() and path.stat().st_uid != user.pw_uid:
            os.chown(path, user.pw_uid, user.pw_gid)
