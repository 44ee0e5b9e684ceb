"""Fixtures of the compose suite: one dev stack and one prod stack (base + override file), each up
once per run and torn down with its volumes; the images built before either starts."""

from __future__ import annotations

import subprocess
import time

import pytest

from hdms_tools import images

from .harness import ComposeStack, free_port


@pytest.fixture(scope="session")
def built():
    images.Engine().ensure()  # testrun started it, or it was running: this only checks
    images.build_offline()
    images.build_app(
        base=images.OFFLINE["HDMS_BASE_IMAGE"] if not images.has_image("debian:trixie-slim") else "debian:trixie-slim"
    )


RUNNING: list[ComposeStack] = []  # one stack at a time: two would share two cores


@pytest.fixture(scope="session")
def dev(built):
    """Started the way the README says: `make up`, here with HDMS_STACK_MODE=docker (compose,
    base + dev: `docker compose up -d --wait`), on a private env file and project name."""
    stack = ComposeStack("dev", ("docker-compose.yml", "docker-compose.dev.yml"))
    RUNNING.append(stack)
    stack.write_env(HDMS_STACK_MODE="docker", COMPOSE_PROJECT_NAME=stack.project)
    stack.down()
    try:
        started = time.monotonic()
        up = stack.make("up")
        assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
        stack.up_seconds = time.monotonic() - started
        print(f"\ndev: make up (docker compose up --wait) from nothing: {stack.up_seconds:.1f}s")
        yield stack
    finally:
        stack.remove()
        assert not stack.dir.exists()


@pytest.fixture(scope="session")
def prod(built):
    stack = ComposeStack("prod", ("docker-compose.yml", "docker-compose.prod.yml"))
    cert_dir = stack.dir / "tls"
    cert_dir.mkdir()
    cert, key = cert_dir / "cert.pem", cert_dir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    key.chmod(0o644)  # the gateway's workers read it as nginx's user; the folder is private to this run
    stack.write_env(
        HDMS_SETTINGS="prod",
        DJANGO_ALLOWED_HOSTS="localhost",
        TLS_CERT_FILE=str(cert),
        TLS_KEY_FILE=str(key),
        GATEWAY_HTTP_PORT=str(free_port()),
        GATEWAY_HTTPS_PORT=str(free_port()),
    )
    for other in RUNNING:
        other.down()
    stack.down()
    try:
        stack.up_seconds = stack.up()
        print(f"\nprod: docker compose up --wait from nothing: {stack.up_seconds:.1f}s")
        yield stack
    finally:
        stack.remove()
        assert not stack.dir.exists()
