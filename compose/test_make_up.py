"""`HDMS_STACK_MODE=docker make up` runs the whole stack in compose (base + dev), and `make status`,
`make verify` and `make down` work on it: the README's two commands, on a Docker engine."""

from __future__ import annotations

import os
import subprocess

import pytest

from hdms_tools.stack import REPO

from .conftest import RUNNING
from .harness import ComposeStack


@pytest.fixture(scope="module")
def make_env(built):
    for other in RUNNING:
        other.down()
    stack = ComposeStack("up", ("docker-compose.yml", "docker-compose.dev.yml"))
    stack.write_env(HDMS_STACK_MODE="docker", COMPOSE_PROJECT_NAME=stack.project)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HDMS_", "COMPOSE_"))}
    env["HDMS_ENV_FILE"] = str(stack.env_file)
    stack.down()
    yield stack, env
    stack.down()


def make(target: str, env: dict[str, str], timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["make", target], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def test_make_up_status_verify_down_in_docker_mode(make_env):
    stack, env = make_env
    assert (
        subprocess.run(
            ["python3", "-m", "hdms_tools.stack", "mode"], cwd=REPO, env=env, capture_output=True, text=True
        ).stdout.strip()
        == "docker"
    )
    up = make("up", env)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    services = {c["Service"] for c in stack.containers()}
    assert {"postgres", "pgbouncer", "redis", "gateway", "user-service", "events-worker", "beat"} <= services
    status = make("status", env)
    assert status.returncode == 0 and "ticket-service" in status.stdout, status.stdout + status.stderr
    verify = make("verify", env)
    assert verify.returncode == 0, verify.stdout[-3000:] + verify.stderr[-2000:]
    again = make("up", env)  # idempotent
    assert again.returncode == 0, again.stderr[-2000:]
    down = make("down", env)
    assert down.returncode == 0 and stack.containers() == [], down.stdout + down.stderr
    assert make("status", env).returncode != 0  # nothing runs: status says so
