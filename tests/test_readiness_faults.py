"""Readiness turns 503 naming the dependency within 3 s of PgBouncer or Redis stopping, and 200
again after they return, with no service restart."""

import os
import signal
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import service_url, stack


def poll_ready(url: str, *, want: int, deadline: float):
    """Poll until the wanted status; returns the last response and the time its request was sent."""
    while True:
        sent = time.monotonic()
        response = httpx.get(f"{url}/health/ready", timeout=5)
        if response.status_code == want or time.monotonic() > deadline:
            return response, sent
        time.sleep(0.1)


def stop_server(run_dir: Path, name: str) -> None:
    pid = int((run_dir / f"{name}.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.05)


@pytest.mark.parametrize(
    ("server", "expected"),
    [
        ("pgbouncer", {"user": "database", "ticket": "database", "communication": "database", "file": "database"}),
        ("redis", {"user": "cache", "ticket": "cache", "communication": "channel_layer", "file": "broker"}),
    ],
)
def test_readiness_follows_the_dependency(stack_env, run_dir, server, expected):
    urls = {s: service_url(stack_env, s) for s in expected}
    for url in urls.values():
        assert poll_ready(url, want=200, deadline=time.monotonic() + 10)[0].status_code == 200
    stop_server(run_dir, server)
    stopped = time.monotonic()
    try:
        for service, dependency in expected.items():
            response, sent = poll_ready(urls[service], want=503, deadline=stopped + 3)
            assert response.status_code == 503, (service, response.text)
            assert sent - stopped <= 3, f"{service} said 503 only {sent - stopped:.1f}s after the stop"
            assert dependency in response.json()["failed"]
    finally:
        assert stack("start").returncode == 0
    for service, url in urls.items():
        response, _ = poll_ready(url, want=200, deadline=time.monotonic() + 15)
        assert response.status_code == 200, (service, response.text)
