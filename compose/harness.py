"""A compose stack of HDMS for the compose suite: the repository's own compose files, a private
project name, env file, key pair, ports and (prod) certificate, on a real Docker engine.

Images: the upstream defaults where the engine already has them, else the offline set
(`hdms_tools.images`, built once per engine); the app image from the repository's Dockerfile.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

from hdms_tools import images
from hdms_tools.envfile import render, share_with_containers
from hdms_tools.stack import REPO, SERVICES
from hdms_tools.stack.compose import UPSTREAM


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def image_variables() -> dict[str, str]:
    """The offline set for every image the engine lacks the upstream default of (the same
    choice `make up` makes: hdms_tools.stack.compose)."""
    upstream = {**UPSTREAM, "HDMS_BASE_IMAGE": "debian:trixie-slim"}
    return {var: tag if images.has_image(tag) else images.OFFLINE[var] for var, tag in upstream.items()}


class ComposeStack:
    def __init__(self, kind: str, files: tuple[str, ...]):
        self.kind = kind
        self.project = f"hdms-ctest-{kind}"
        self.files = files
        self.dir = Path(tempfile.mkdtemp(prefix=f"hdms-compose-{kind}-"))
        self.env_file = self.dir / "env"
        self.values: dict[str, str] = {}
        self.up_seconds: float | None = None

    def write_env(self, **extra: str) -> None:
        keys = self.dir / "keys"
        keys.mkdir()
        private, public = keys / "jwt-private.pem", keys / "jwt-public.pem"
        subprocess.run(
            ["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(private)],
            check=True,
            capture_output=True,
        )
        subprocess.run(["openssl", "pkey", "-in", str(private), "-pubout", "-out", str(public)], check=True, capture_output=True)
        share_with_containers(private)
        ports = {
            name: str(free_port())
            for name in ("GATEWAY_PORT", "PGBOUNCER_PORT", "REDIS_PORT", *(f"{s.upper()}_SERVICE_PORT" for s in SERVICES))
        }
        overrides = {
            "HDMS_SETTINGS": "dev",
            "JWT_PRIVATE_KEY_PATH": str(private),
            "JWT_PUBLIC_KEY_PATH": str(public),
            "JWT_PRIVATE_KEY_FILE": str(private),  # the host's tools (the verify scripts) read these
            "JWT_PUBLIC_KEY_FILE": str(public),
            "LOGIN_MAX_ATTEMPTS_PER_ADDRESS": "100000",
            **ports,
            **image_variables(),
            **extra,
        }
        text = render((REPO / ".env.example").read_text(), overrides)
        self.env_file.write_text(text)
        self.env_file.chmod(0o600)
        self.values = {
            k: v for k, _, v in (line.partition("=") for line in text.splitlines()) if not k.startswith("#") and v != ""
        }

    def command(self, *args: str) -> list[str]:
        files = [arg for name in self.files for arg in ("-f", str(REPO / name))]
        return ["docker", "compose", "--ansi", "never", "-p", self.project, "--env-file", str(self.env_file), *files, *args]

    def run(self, *args: str, check: bool = True, timeout: float = 300, **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        if "input" not in kwargs:
            kwargs["stdin"] = subprocess.DEVNULL
        result = subprocess.run(self.command(*args), cwd=REPO, timeout=timeout, **kwargs)
        if check and result.returncode != 0:
            raise AssertionError(
                f"docker compose {' '.join(args)} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
            )
        return result

    def up(self, *args: str) -> float:
        started = time.monotonic()
        self.run("up", "--wait", "--no-build", *args, timeout=420)
        return time.monotonic() - started

    def make(self, target: str, timeout: float = 600) -> subprocess.CompletedProcess:
        """`make <target>` on this stack: its env file (HDMS_ENV_FILE) names the mode and the project."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HDMS_", "COMPOSE_"))}
        env["HDMS_ENV_FILE"] = str(self.env_file)
        return subprocess.run(
            ["make", target], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )

    def wait_healthy(self, timeout: float = 120) -> None:
        """Every running container healthy (after a fault, health checks take an interval or two to
        say so again; `up --wait` would fail at the first one still marked unhealthy)."""
        deadline = time.monotonic() + timeout
        while True:
            sick = [c["Name"] for c in self.containers() if c["State"] != "running" or c.get("Health") not in ("healthy", "")]
            if not sick:
                return
            if time.monotonic() > deadline:
                raise AssertionError(f"not healthy {timeout:.0f} s after the fault: {sick}")
            time.sleep(1)

    def exec(self, service: str, *argv: str, check: bool = True, **kwargs) -> subprocess.CompletedProcess:
        return self.run("exec", "-T", service, *argv, check=check, **kwargs)

    def docker_exec(self, container: str, *argv: str) -> subprocess.CompletedProcess:
        """In one container by name (a replica), where `exec` picks the service's first."""
        return subprocess.run(["docker", "exec", container, *argv], capture_output=True, text=True, check=True, timeout=60)

    def containers(self, service: str | None = None, *, all_states: bool = False) -> list[dict]:
        args = ["ps", "--format", "json", *(["-a"] if all_states else []), *([service] if service else [])]
        out = self.run(*args).stdout.strip()
        if not out:
            return []
        if out.startswith("["):
            return json.loads(out)
        return [json.loads(line) for line in out.splitlines()]

    def inspect(self, container: str) -> dict:
        out = subprocess.run(["docker", "inspect", container], capture_output=True, text=True, check=True).stdout
        return json.loads(out)[0]

    def logs(self, service: str) -> str:
        """A service's log lines (Compose 2.26 still writes a terminal's erase-line code before each)."""
        return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", self.run("logs", "--no-color", "--no-log-prefix", service).stdout)

    def down(self) -> None:
        self.run("--profile", "tools", "down", "-v", "--remove-orphans", "--timeout", "5", check=False, timeout=180)

    def remove(self) -> None:
        """Down, and its folder gone: the env file holds this run's secrets and keys."""
        self.down()
        shutil.rmtree(self.dir, ignore_errors=True)

    def env(self) -> dict[str, str]:
        """What the verify scripts and the test client need to reach the published ports."""
        return {
            **os.environ,
            **self.values,
            "HDMS_ENV_FILE": str(self.env_file),
            "PGBOUNCER_HOST": "127.0.0.1",
            "REDIS_HOST": "127.0.0.1",
        }
