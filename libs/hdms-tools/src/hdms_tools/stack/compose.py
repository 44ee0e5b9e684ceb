"""The data plane in docker compose, when a Docker engine answers (HDMS_STACK_MODE)."""

from __future__ import annotations

import shutil
import subprocess

from .config import EXIT_BINARY, EXIT_CONFIG, REPO, Config, StackError


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
