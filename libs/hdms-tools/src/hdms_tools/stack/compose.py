"""HDMS in docker compose, when a Docker engine answers (HDMS_STACK_MODE).

`auto` picks compose only when compose can really start here: an engine answers and it has the
images (the upstream ones, or the offline set `make images` builds); otherwise the native stack,
saying why. `docker` insists: it pulls what is missing, and where no registry answers builds the
offline set from Debian's packages. Either way `make up` then runs the whole stack in compose
(base + dev); `make infra` only its data plane.
"""

from __future__ import annotations

import os
import subprocess
import sys

from .. import images
from .config import EXIT_BINARY, EXIT_CONFIG, REPO, Config, StackError

FILES = ("docker-compose.yml", "docker-compose.dev.yml")
UPSTREAM = {
    "POSTGRES_IMAGE": "postgres:17.2-bookworm",
    "PGBOUNCER_IMAGE": "edoburu/pgbouncer:1.22.1",
    "REDIS_IMAGE": "redis:7.4-bookworm",
    "NGINX_IMAGE": "nginx:1.27-bookworm",
}


def docker_available() -> bool:
    return images.answers()


def image_env(config: Config) -> dict[str, str] | None:
    """The image variables compose should run with: the configured or upstream image where the
    engine has it, else the offline set's where that is built; None when neither is here."""
    chosen: dict[str, str] = {}
    for variable, upstream in UPSTREAM.items():
        wanted = config.get(variable, "") or upstream
        if images.has_image(wanted):
            chosen[variable] = wanted
        elif images.has_image(images.OFFLINE[variable]):
            chosen[variable] = images.OFFLINE[variable]
        else:
            return None
    base = config.get("HDMS_BASE_IMAGE", "") or "debian:trixie-slim"
    chosen["HDMS_BASE_IMAGE"] = base if images.has_image(base) else images.OFFLINE["HDMS_BASE_IMAGE"]
    return chosen


def pull_or_build(config: Config) -> dict[str, str]:
    """HDMS_STACK_MODE=docker: pull what the engine lacks; where a pull fails (no registry), build
    the offline set; then the app image."""
    missing = [config.get(v, "") or u for v, u in UPSTREAM.items() if not images.has_image(config.get(v, "") or u)]
    for image in missing:
        try:
            pulled = subprocess.run(["docker", "pull", "-q", image], capture_output=True, timeout=60).returncode == 0
        except subprocess.TimeoutExpired:
            pulled = False
        if not pulled:
            say(f"cannot pull {image} (no registry answers?): building the offline set from Debian's packages")
            images.build_offline()
            break
    chosen = image_env(config)
    assert chosen is not None
    if not images.has_image(config.get("APP_IMAGE", "") or images.APP):
        images.build_app(base=chosen["HDMS_BASE_IMAGE"])
    return chosen


def say(message: str) -> None:
    print(f"stack: {message}", file=sys.stderr, flush=True)


def use_docker(config: Config, *, announce: bool = False) -> bool:
    mode = config.get("HDMS_STACK_MODE", "auto")
    if mode not in ("auto", "docker", "native"):
        raise StackError(f"HDMS_STACK_MODE must be auto, docker or native, got {mode!r}", EXIT_CONFIG)
    if mode == "native":
        return False
    available = docker_available()
    if mode == "docker":
        if not available:
            raise StackError("HDMS_STACK_MODE=docker but no Docker engine answers `docker info`", EXIT_BINARY)
        return True
    if not available:
        return False
    if image_env(config) is None:
        if announce:
            say(
                "a Docker engine answers but has neither the upstream images nor the offline set (`make images` "
                "builds it; HDMS_STACK_MODE=docker pulls or builds): starting the native stack instead"
            )
        return False
    return True


def compose(*args: str, config: Config, prepare: bool = False) -> int:
    """`docker compose` with base + dev and the env file every other tool reads (HDMS_ENV_FILE);
    `prepare`: first get the images (pulled or the offline set, and the app image)."""
    env = dict(os.environ)
    if prepare:
        mode = config.get("HDMS_STACK_MODE", "auto")
        chosen = pull_or_build(config) if mode == "docker" else image_env(config) or {}
        if chosen and not images.has_image(config.get("APP_IMAGE", "") or images.APP):
            images.build_app(base=chosen["HDMS_BASE_IMAGE"])
        env.update(chosen)
    else:
        env.update(image_env(config) or {})
    files = [a for name in FILES for a in ("-f", str(REPO / name))]
    cmd = ["docker", "compose", "--env-file", str(config.env_file), *files, *args]
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, cwd=REPO, env=env).returncode


def status(config: Config) -> int:
    """`docker compose ps`, and exit 1 unless every service's container runs and is healthy."""
    code = compose("ps", config=config)
    files = [a for name in FILES for a in ("-f", str(REPO / name))]
    out = subprocess.run(
        ["docker", "compose", "--env-file", str(config.env_file), *files, "ps", "--format", "{{.Service}} {{.State}} {{.Health}}"],
        cwd=REPO, capture_output=True, text=True,
    ).stdout.split("\n")  # fmt: skip
    rows = [line.split() for line in out if line.strip()]
    sick = [row[0] for row in rows if row[1:2] != ["running"] or row[2:3] not in ([], ["healthy"])]
    if not rows or sick:
        say(f"not healthy: {', '.join(sick) or 'nothing runs'}")
        return 1
    return code
